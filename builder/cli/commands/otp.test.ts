// `mvos otp enroll` and `mvos user passwd` as a person runs them: the real launcher, a key folder outside the
// repository.

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { verifyPassword } from '../../../common/secrets/password.ts';
import { runMvos } from '../mvos.test-support.ts';

const home = mkdtempSync(join(tmpdir(), 'mvos-otp-cli-'));

const mvos = (args: string[], input?: string) => runMvos(args, { input, env: { XDG_CONFIG_HOME: home } });

const store = join(home, 'mvos', 'keys', 'agent');

test('otp enroll prints a QR code and the otpauth URI, and stores the secret sealed in the default key folder', () => {
  const out = mvos(['otp', 'enroll', 'alice']);
  assert.is(out.code, 0, out.stderr);
  assert.match(out.stdout, /[█▀▄]{7}/, 'a QR code drawn with block characters');
  const uri = /^otpauth:\/\/totp\/Multiverse:alice\?secret=([A-Z2-7]{32})&issuer=Multiverse$/m.exec(out.stdout);
  assert.ok(uri?.[1], out.stdout);
  const text = readFileSync(join(store, 'users.json'), 'utf8');
  assert.not.ok(text.includes(uri[1]));
  assert.match(text, /"type": "totp",\n\s+"secret": "v1:/);
  assert.is(statSync(join(store, 'secret.key')).mode & 0o777, 0o600);
});

test('otp enroll refuses a second enrollment, a bad type and a key folder in the repository (exit 2, with a hint)', () => {
  const again = mvos(['otp', 'enroll', 'alice']);
  assert.is(again.code, 2);
  assert.match(again.stderr, /alice already has a one-time code\nhint: pass --force/);
  assert.is(mvos(['otp', 'enroll', 'bob', '--type', 'sms']).code, 2);
  const inRepo = mvos(['otp', 'enroll', 'bob', '--key-dir', 'tmp-keys']);
  assert.is(inRepo.code, 2);
  assert.match(inRepo.stderr, /inside the git checkout/);
  const hotp = mvos(['otp', 'enroll', 'bob', '--type', 'hotp', '--json']);
  assert.is(hotp.code, 0, hotp.stderr);
  assert.match(
    JSON.parse(hotp.stdout).uri,
    /^otpauth:\/\/hotp\/Multiverse:bob\?secret=[A-Z2-7]{32}&issuer=Multiverse&counter=0$/,
  );
});

test('user passwd reads the password from stdin and stores only its scrypt hash', async () => {
  const out = mvos(['user', 'passwd', 'alice'], 'correct horse battery\n');
  assert.is(out.code, 0, out.stderr);
  const users = JSON.parse(readFileSync(join(store, 'users.json'), 'utf8')).users;
  assert.ok(users.alice.otp, 'the enrollment is kept');
  assert.ok(await verifyPassword(users.alice.passwordHash, 'correct horse battery'));
  assert.not.ok(readFileSync(join(store, 'users.json'), 'utf8').includes('correct horse'));
  assert.is(mvos(['user', 'passwd', 'alice'], 'short\n').code, 2);
  rmSync(home, { recursive: true, force: true });
});

test.run();
