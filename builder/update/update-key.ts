// The project's update key: Ed25519, kept in the key folder beside the Secure Boot keys (update.key, PKCS #8 PEM, 0600)
// with its public half in minisign's format (update.pub), which a host recipe names and `minisign -V` reads.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../common/errors.ts';
import { refuseOpenToOthers } from '../../common/private-file.ts';
import { parsePublicKey, privateKeyFromPem, publicKeyFile } from '../../common/update/minisign.ts';

// The two files of the update key in a key folder.
export function updateKeyFiles(dir: string): { key: string; pub: string } {
  return { key: join(dir, 'update.key'), pub: join(dir, 'update.pub') };
}

// Whether the folder holds an update key already.
export function hasUpdateKey(dir: string): boolean {
  return existsSync(updateKeyFiles(dir).key);
}

// Makes the update key in `dir` (which must exist, 0700, outside any repository); never overwrites one.
export async function initUpdateKey(dir: string): Promise<string[]> {
  const files = updateKeyFiles(dir);
  const { privateKey } = generateKeyPairSync('ed25519');
  // 'wx': an existing key is never replaced (a host trusting it would refuse every later bundle).
  await writeFile(files.key, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  await writeFile(files.pub, publicKeyFile(privateKey), { mode: 0o644, flag: 'wx' });
  return [files.key, files.pub];
}

// The update key's private half; refused when it is missing or group or others can read it.
export async function loadUpdateKey(dir: string): Promise<KeyObject> {
  const { key } = updateKeyFiles(dir);
  const info = await stat(key).catch(() => undefined);
  if (!info)
    throw new UserError(`no update key in ${dir}`, { hint: '`mvos keys init` makes it beside the Secure Boot keys' });
  refuseOpenToOthers(key, info.mode);
  try {
    return privateKeyFromPem(await readFile(key, 'utf8'));
  } catch (error) {
    throw new UserError(`${key} is not an Ed25519 private key: ${(error as Error).message}`);
  }
}

// The public key line (RW…) of the folder's update.pub, which a host built with `update.key: key-folder` trusts.
export async function trustedUpdateKey(dir: string): Promise<string> {
  const { pub } = updateKeyFiles(dir);
  const text = await readFile(pub, 'utf8').catch(() => {
    throw new UserError(`update.key is key-folder, and ${dir} has no update.pub`, {
      hint: '`mvos keys init` makes the update key there (or name the public key itself in update.key)',
    });
  });
  try {
    parsePublicKey(text);
  } catch (error) {
    throw new UserError(`${pub} is not a minisign public key: ${(error as Error).message}`);
  }
  return text
    .split('\n')
    .find((line) => /^RW[A-Za-z0-9+/]{54}$/.test(line.trim()))!
    .trim();
}
