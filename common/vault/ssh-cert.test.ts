// User certificates read by OpenSSH's own ssh-keygen (which checks the CA's signature as it parses): the key, the CA,
// the id, the serial, the validity, the principals, the source address; one changed byte of the signature is refused.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { issueUserCertificate, openSshPublicKey } from './ssh-cert.ts';

const dir = mkdtempSync(join(tmpdir(), 'mvos-ssh-cert-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function keygen(args: string[]): { status: number | null; out: string; err: string } {
  const run = spawnSync('ssh-keygen', args, { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
  return { status: run.status, out: run.stdout, err: run.stderr };
}

test('ssh-keygen reads a certificate we issued: key, CA, id, serial, validity, principals, source address', () => {
  const ca = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'ca.pub'), `${openSshPublicKey(ca.publicKey, 'vault-ca')}\n`);
  assert.is(keygen(['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'user')]).status, 0);
  const userPub = readFileSync(join(dir, 'user.pub'), 'utf8');
  const line = issueUserCertificate(ca.privateKey, {
    publicKey: userPub,
    keyId: 'alice@host-1',
    principals: ['alice', 'ops'],
    validAfter: 1_800_000_000,
    validBefore: 1_800_003_600,
    sourceAddress: '192.0.2.0/24,2001:db8::/32',
    serial: 42n,
  });
  writeFileSync(join(dir, 'user-cert.pub'), `${line}\n`);
  const shown = keygen(['-L', '-f', join(dir, 'user-cert.pub')]);
  assert.is(shown.status, 0, shown.err);
  const fingerprint = (file: string) => keygen(['-l', '-f', file]).out.split(' ')[1]!;
  assert.match(shown.out, /Type: ssh-ed25519-cert-v01@openssh.com user certificate/);
  assert.ok(shown.out.includes(`Public key: ED25519-CERT ${fingerprint(join(dir, 'user.pub'))}`), shown.out);
  assert.ok(shown.out.includes(`Signing CA: ED25519 ${fingerprint(join(dir, 'ca.pub'))}`), shown.out);
  assert.match(shown.out, /Key ID: "alice@host-1"/);
  assert.match(shown.out, /Serial: 42/);
  assert.match(shown.out, /Valid: from 2027-01-15T08:00:00 to 2027-01-15T09:00:00/);
  assert.match(shown.out, /Principals: \n\s+alice\n\s+ops/);
  assert.match(shown.out, /source-address 192\.0\.2\.0\/24,2001:db8::\/32/);
  assert.match(shown.out, /permit-pty/);
  const bytes = Buffer.from(line.split(' ')[1]!, 'base64');
  bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 1;
  writeFileSync(join(dir, 'forged-cert.pub'), `ssh-ed25519-cert-v01@openssh.com ${bytes.toString('base64')}\n`);
  assert.is.not(keygen(['-L', '-f', join(dir, 'forged-cert.pub')]).status, 0, 'a changed signature is refused');
});

test.run();
