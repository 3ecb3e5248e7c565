// The fleet's NATS users, kept in the key folder: one nkey (Ed25519) per host and per operator, the seed 0600 in
// fleet/hosts/HOST.nk or fleet/operators/NAME.nk. The broker is told only their public keys and permissions.
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { UserError } from '../../common/errors.ts';
import { FLEET_NAME } from '../../common/fleet/subjects.ts';
import { refuseOpenToOthers } from '../../common/private-file.ts';
import { refuseRepo } from '../firmware/keys.ts';

// A host's or an operator's identity.
export interface FleetIdentity {
  kind: 'host' | 'operator';
  name: string;
  // The nkey's public key (U…), as the broker's authorization block names the user.
  publicKey: string;
  // The seed file (0600).
  file: string;
}

const FOLDER = { host: 'hosts', operator: 'operators' } as const;

function seedFile(keyDir: string, kind: FleetIdentity['kind'], name: string): string {
  return join(resolve(keyDir), 'fleet', FOLDER[kind], `${name}.nk`);
}

function checkName(kind: FleetIdentity['kind'], name: string): void {
  if (!FLEET_NAME.test(name))
    throw new UserError(`"${name}" is not a ${kind} name for the fleet (a-z first, then a-z 0-9 -; up to 63)`);
}

// Reads a seed file (refused when others may read it) as its key pair's public key and seed.
export async function readSeed(file: string): Promise<{ publicKey: string; seed: Uint8Array }> {
  refuseOpenToOthers(file, (await stat(file)).mode);
  const seed = new TextEncoder().encode((await readFile(file, 'utf8')).trim());
  try {
    return { publicKey: fromSeed(seed).getPublicKey(), seed };
  } catch {
    throw new UserError(`${file} does not hold an nkey seed`);
  }
}

// Makes a new identity (an existing one is kept unless `replace`).
export async function enrollIdentity(
  keyDir: string,
  kind: FleetIdentity['kind'],
  name: string,
  options: { replace?: boolean } = {},
): Promise<FleetIdentity & { made: boolean }> {
  checkName(kind, name);
  await refuseRepo(keyDir);
  const file = seedFile(keyDir, kind, name);
  const existing = await stat(file).catch(() => undefined);
  if (existing && !options.replace)
    return { kind, name, file, publicKey: (await readSeed(file)).publicKey, made: false };
  const pair = createUser();
  await mkdir(join(resolve(keyDir), 'fleet', FOLDER[kind]), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${new TextDecoder().decode(pair.getSeed())}\n`, { mode: 0o600 });
  return { kind, name, file, publicKey: pair.getPublicKey(), made: true };
}

// Every identity in the key folder, hosts first, each sorted by name.
export async function listIdentities(keyDir: string): Promise<FleetIdentity[]> {
  const all: FleetIdentity[] = [];
  for (const kind of ['host', 'operator'] as const) {
    const dir = join(resolve(keyDir), 'fleet', FOLDER[kind]);
    const names = (await readdir(dir).catch(() => [] as string[]))
      .filter((f) => f.endsWith('.nk'))
      .map((f) => f.slice(0, -3))
      .filter((n) => FLEET_NAME.test(n))
      .sort();
    for (const name of names) {
      const file = seedFile(keyDir, kind, name);
      all.push({ kind, name, file, publicKey: (await readSeed(file)).publicKey });
    }
  }
  return all;
}

// The seed file of a host or operator, or a clear error naming the command that makes it.
export async function identityOf(keyDir: string, kind: FleetIdentity['kind'], name: string): Promise<string> {
  checkName(kind, name);
  const file = seedFile(keyDir, kind, name);
  if (!(await stat(file).catch(() => undefined)))
    throw new UserError(`no fleet ${kind} ${name} in ${keyDir}`, {
      hint: kind === 'host' ? `mvos fleet enroll ${name}` : `mvos fleet operator ${name}`,
    });
  return file;
}
