// One-time-code secrets at rest: AES-256-GCM under a 32-byte key file, bound to the user name; shared by the builder
// and the agent.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UserError } from '../errors.ts';
import { refuseOpenToOthers } from '../private-file.ts';

// Bytes in a secret key file.
export const SECRET_KEY_BYTES = 32;

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

// The associated data: a secret sealed for one user does not open for another.
function context(user: string): Buffer {
  return Buffer.from(`mvos-otp-secret:${VERSION}:${user}`, 'utf8');
}

// Seals a secret for a user as `v1:<iv>:<tag>:<ciphertext>` (base64url); a fresh random IV each time.
export function encryptSecret(key: Buffer, user: string, plaintext: string): string {
  return seal(key, user, randomBytes(IV_BYTES), plaintext);
}

function seal(key: Buffer, binding: string, iv: Buffer, plaintext: string): string {
  checkKey(key);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(context(binding));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [VERSION, iv, cipher.getAuthTag(), body]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join(':');
}

// Seals like encryptSecret, but with the IV derived from the key, the binding and the text: the same file seals to the
// same string, so an image that carries it builds to the same bytes (it shows only whether two sealed texts are equal).
export function sealDeterministic(key: Buffer, binding: string, plaintext: string): string {
  checkKey(key);
  const iv = createHmac('sha256', key).update(`mvos-seal-iv\0${binding}\0${plaintext}`).digest().subarray(0, IV_BYTES);
  return seal(key, binding, iv, plaintext);
}

// Opens a sealed secret; a wrong key, another user's secret, a tampered or malformed string all throw.
export function decryptSecret(key: Buffer, user: string, sealed: string): string {
  checkKey(key);
  const parts = sealed.split(':');
  const [version, ivText, tagText, bodyText] = parts;
  if (
    parts.length !== 4 ||
    version !== VERSION ||
    ivText === undefined ||
    tagText === undefined ||
    bodyText === undefined
  )
    throw new Error(`not a ${VERSION} sealed secret`);
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('sealed secret has a bad IV or tag length');
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(context(user));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    throw new Error(`the secret of ${user} does not open with this key (wrong key, wrong user or tampered)`);
  }
}

function checkKey(key: Buffer): void {
  if (key.length !== SECRET_KEY_BYTES) throw new Error(`a secret key is ${SECRET_KEY_BYTES} bytes (got ${key.length})`);
}

// Reads a key file, refusing one that group or others may read or write, or that is not exactly 32 bytes.
export async function readSecretKey(file: string): Promise<Buffer> {
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch (error) {
    throw new UserError(
      `cannot read the secret key ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      {
        hint: 'enroll a user with `mvos otp enroll USER` to create it',
      },
    );
  }
  refuseOpenToOthers(file, mode, `the secret key ${file}`);
  const key = await readFile(file);
  if (key.length !== SECRET_KEY_BYTES)
    throw new UserError(`the secret key ${file} holds ${key.length} bytes, not ${SECRET_KEY_BYTES}`);
  return key;
}

// Reads the key file, creating it (0600, in a 0700 folder) with fresh random bytes when it does not exist yet.
export async function readOrCreateSecretKey(file: string): Promise<Buffer> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(randomBytes(SECRET_KEY_BYTES));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(file, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readSecretKey(file);
}
