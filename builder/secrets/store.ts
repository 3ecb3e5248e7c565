// The build machine's record of agent users (sealed one-time-code secrets, password hashes), kept in the key folder,
// 0600.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { generateSecret, generateURI } from 'otplib';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { UserError } from '../../common/errors.ts';
import { refuseOpenToOthers } from '../../common/private-file.ts';
import { encryptSecret, readOrCreateSecretKey } from '../../common/secrets/otp-secret.ts';
import { hashPassword } from '../../common/secrets/password.ts';

// Which one-time code a user has.
export type OtpType = 'totp' | 'hotp';

// What the store holds for one user.
export interface StoredUser {
  otp?: { type: OtpType; secret: string };
  passwordHash?: string;
}

// The whole store: users by name.
export interface UserStore {
  users: Record<string, StoredUser>;
}

// The store's files under a key folder: the secret key (shipped root-only in images) and users.json.
export function storeFiles(keyDir: string): { key: string; users: string } {
  const dir = join(resolve(keyDir), 'agent');
  return { key: join(dir, 'secret.key'), users: join(dir, 'users.json') };
}

// A name the agent, the recipe and an SSH client all accept.
export const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;

function checkName(user: string): void {
  if (!USER_NAME.test(user))
    throw new UserError(`"${user}" is not a user name (lower-case letters, digits, _ . -; up to 32)`);
}

// Refuses a key folder inside a git checkout: secrets must never be committed.
function refuseRepo(dir: string): void {
  for (let at = resolve(dir); ; at = dirname(at)) {
    if (existsSync(join(at, '.git')))
      throw new UserError(`${dir} is inside the git checkout ${at}`, {
        hint: 'keep keys outside any repository (the default is $XDG_CONFIG_HOME/mvos/keys)',
      });
    if (dirname(at) === at) return;
  }
}

// Reads the store; a missing one is empty, one that group or others can read is refused.
export async function readUserStore(keyDir: string): Promise<UserStore> {
  const file = storeFiles(keyDir).users;
  let text: string;
  try {
    const mode = (await stat(file)).mode;
    refuseOpenToOthers(file, mode);
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { users: {} };
    throw error;
  }
  try {
    const store = JSON.parse(text) as UserStore;
    if (typeof store.users !== 'object' || store.users === null) throw new Error('no users object');
    return store;
  } catch (error) {
    throw new UserError(`${file} is not a user store: ${(error as Error).message}`, {
      hint: 'move it away and enroll the users again',
    });
  }
}

async function update(keyDir: string, user: string, change: (entry: StoredUser) => StoredUser): Promise<void> {
  checkName(user);
  refuseRepo(keyDir);
  const store = await readUserStore(keyDir);
  const users = { ...store.users, [user]: change(store.users[user] ?? {}) };
  const sorted = Object.fromEntries(Object.entries(users).sort(([a], [b]) => a.localeCompare(b)));
  await writeFileAtomic(storeFiles(keyDir).users, `${JSON.stringify({ users: sorted }, null, 2)}\n`, { mode: 0o600 });
}

// What enrollment gives the person: the secret (base32) and the otpauth:// URI an authenticator app scans.
export interface Enrollment {
  user: string;
  type: OtpType;
  secret: string;
  uri: string;
  keyFile: string;
}

// Creates a user's one-time-code secret and stores it sealed; an existing one is replaced only when `replace` is set.
export async function enrollOtp(
  keyDir: string,
  user: string,
  type: OtpType,
  options: { replace?: boolean; issuer?: string } = {},
): Promise<Enrollment> {
  checkName(user);
  refuseRepo(keyDir);
  if (!options.replace && (await readUserStore(keyDir)).users[user]?.otp) {
    throw new UserError(`${user} already has a one-time code`, {
      hint: `pass --force to replace it (the old code stops working after the next build)`,
    });
  }
  const files = storeFiles(keyDir);
  const key = await readOrCreateSecretKey(files.key);
  const secret = generateSecret({ length: 20 });
  const uri = generateURI({
    strategy: type,
    issuer: options.issuer ?? 'Multiverse',
    label: user,
    secret,
    ...(type === 'hotp' ? { counter: 0 } : {}),
  });
  await update(keyDir, user, (entry) => ({ ...entry, otp: { type, secret: encryptSecret(key, user, secret) } }));
  return { user, type, secret, uri, keyFile: files.key };
}

// Stores the scrypt hash of a user's password (for the HTTP login).
export async function setPassword(keyDir: string, user: string, password: string): Promise<void> {
  if (password.length < 8) throw new UserError('a password has at least 8 characters');
  const passwordHash = await hashPassword(password);
  await update(keyDir, user, (entry) => ({ ...entry, passwordHash }));
}
