// The server's host key: ed25519 made with node:crypto on first start, kept in the state folder 0600, reused after.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { parseKey } from './ssh2.ts';

// The host key and what a person compares it with.
export interface HostKey {
  file: string;
  // OpenSSH "openssh-key-v1" private key text, as ssh2 reads it.
  privateKey: string;
  // `ssh-ed25519 AAAA…` (an authorized_keys / known_hosts line without the host part).
  publicKey: string;
  // SHA256:… as `ssh-keygen -lf` prints it.
  fingerprint: string;
}

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

// The wire form of an ed25519 public key (what fingerprints hash).
function publicBlob(pub: Buffer): Buffer {
  return Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
}

// Writes an unencrypted openssh-key-v1 file (PROTOCOL.key in OpenSSH), the only ed25519 form ssh2 reads.
export function opensshPrivateKey(seed: Buffer, pub: Buffer, comment: string): string {
  const check = randomBytes(4);
  const body = Buffer.concat([
    check,
    check,
    sshString('ssh-ed25519'),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  const padding = Buffer.from(Array.from({ length: (8 - (body.length % 8)) % 8 }, (_, i) => i + 1));
  const file = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(publicBlob(pub)),
    sshString(Buffer.concat([body, padding])),
  ]);
  const lines = file
    .toString('base64')
    .match(/.{1,70}/g)!
    .join('\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

// SHA256:<base64 without padding> of a public key blob.
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function describe(file: string, privateKey: string): HostKey {
  const parsed = parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`the host key ${file} cannot be read: ${parsed.message}`);
  const blob = parsed.getPublicSSH();
  return { file, privateKey, publicKey: `${parsed.type} ${blob.toString('base64')}`, fingerprint: fingerprint(blob) };
}

// Loads stateDir/ssh_host_ed25519_key, creating it on first start; a key file open to others is refused.
export async function loadHostKey(stateDir: string, comment = 'mvos-agent'): Promise<HostKey> {
  const file = join(stateDir, 'ssh_host_ed25519_key');
  try {
    const mode = (await stat(file)).mode;
    if ((mode & 0o077) !== 0)
      throw new Error(
        `the host key ${file} is open to group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
      );
    return describe(file, await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const text = opensshPrivateKey(seed, pub, comment);
  await writeFileAtomic(file, text, { mode: 0o600 });
  return describe(file, text);
}
