// The project's Secure Boot key set (PK, KEK, db): created with openssl and efitools, kept outside the repository,
// 0600.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { runTool } from '../../common/exec.ts';

// The three keys of a Secure Boot set, from the platform owner down to the signer of boot images.
export const KEY_ROLES = ['PK', 'KEK', 'db'] as const;

// One of PK, KEK, db.
export type KeyRole = (typeof KEY_ROLES)[number];

// Owner GUID written into our signature lists, so our entries are recognisable in any varstore.
export const MVOS_OWNER_GUID = '6d766f73-6d75-4c74-9976-657273650001';

// The files of one key: private key and certificate (PEM), certificate (DER), signature list and signed update.
export interface KeyFiles {
  key: string;
  crt: string;
  cer: string;
  esl: string;
  auth: string;
}

// Where a key set lives by default: $XDG_CONFIG_HOME/mvos/keys, else ~/.config/mvos/keys.
export function defaultKeyDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'mvos', 'keys');
}

// The file names of one role inside a key folder.
export function keyFiles(dir: string, role: KeyRole): KeyFiles {
  const base = join(dir, role);
  return { key: `${base}.key`, crt: `${base}.crt`, cer: `${base}.cer`, esl: `${base}.esl`, auth: `${base}.auth` };
}

// Which role signs a role's enrollment update: PK signs itself and KEK, KEK signs db.
function signer(role: KeyRole): KeyRole {
  return role === 'db' ? 'KEK' : 'PK';
}

// Refuses a key folder inside a git checkout: private keys must never be committed or copied into images.
export async function refuseRepo(dir: string): Promise<void> {
  const inside = await runTool('git', ['-C', dir, 'rev-parse', '--show-toplevel'], { allowFailure: true });
  if (inside.exitCode === 0)
    throw new Error(
      `${dir} is inside the git checkout ${inside.stdout.trim()}; keep Secure Boot keys outside any repository`,
    );
}

// Makes the exports (.cer, .esl, .auth) for keys whose .key/.crt exist; a fixed timestamp keeps the .auth files stable.
export async function exportKeys(dir: string, timestamp = '2026-01-01 00:00:00'): Promise<void> {
  for (const role of KEY_ROLES) {
    const f = keyFiles(dir, role);
    await runTool('openssl', ['x509', '-in', f.crt, '-outform', 'DER', '-out', f.cer]);
    await runTool('cert-to-efi-sig-list', ['-g', MVOS_OWNER_GUID, f.crt, f.esl]);
  }
  for (const role of KEY_ROLES) {
    const f = keyFiles(dir, role);
    const s = keyFiles(dir, signer(role));
    await runTool('sign-efi-sig-list', [
      '-g',
      MVOS_OWNER_GUID,
      '-t',
      timestamp,
      '-k',
      s.key,
      '-c',
      s.crt,
      role,
      f.esl,
      f.auth,
    ]);
  }
  for (const name of await readdir(dir)) await chmod(join(dir, name), 0o600);
}

// Creates PK, KEK and db (RSA 3072, self-signed, "Multiverse PK" etc.) in dir, refusing to overwrite an existing set.
export async function initKeys(
  dirArg: string,
  options: { commonNamePrefix?: string; days?: number } = {},
): Promise<string[]> {
  const dir = resolve(dirArg);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await refuseRepo(dir);
  const existing = KEY_ROLES.filter((role) => existsSync(keyFiles(dir, role).key));
  if (existing.length > 0)
    throw new Error(`${dir} already holds ${existing.join(', ')}; remove them or choose another --dir`);
  const prefix = options.commonNamePrefix ?? 'Multiverse';
  for (const role of KEY_ROLES) {
    const f = keyFiles(dir, role);
    await runTool('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:3072',
      '-nodes',
      '-sha256',
      '-days',
      String(options.days ?? 3650),
      '-subj',
      `/CN=${prefix} ${role}/O=${prefix}/`,
      '-keyout',
      f.key,
      '-out',
      f.crt,
    ]);
    await chmod(f.key, 0o600);
  }
  await exportKeys(dir);
  return (await readdir(dir)).sort().map((name) => join(dir, name));
}

// The DER bytes of the first certificate in a PEM file.
export function pemToDer(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error('no PEM certificate found');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

// Checks a key folder (ours or bring-your-own) has the certificates enrollment needs; returns them as DER.
export async function loadKeySet(dirArg: string): Promise<Record<KeyRole, Buffer>> {
  const dir = resolve(dirArg);
  const out = {} as Record<KeyRole, Buffer>;
  for (const role of KEY_ROLES) {
    const f = keyFiles(dir, role);
    if (!existsSync(f.crt))
      throw new Error(
        `${f.crt} is missing: run \`mvos keys init --dir ${dirArg}\` or put your ${role} certificate (PEM) there`,
      );
    out[role] = pemToDer(await readFile(f.crt, 'utf8'));
  }
  return out;
}
