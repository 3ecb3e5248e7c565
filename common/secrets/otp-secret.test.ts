import { rejects } from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decryptSecret, encryptSecret, readOrCreateSecretKey, readSecretKey, sealDeterministic } from './otp-secret.ts';

const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

test('a sealed secret opens with the same key and user, and never shows the plaintext', () => {
  const key = randomBytes(32);
  const sealed = encryptSecret(key, 'alice', secret);
  assert.match(sealed, /^v1:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/);
  assert.not.ok(sealed.includes(secret));
  assert.is(decryptSecret(key, 'alice', sealed), secret);
  assert.is.not(encryptSecret(key, 'alice', secret), sealed, 'a fresh IV each time');
});

test('a deterministic seal is the same for the same key, binding and text, opens only for its binding', () => {
  const key = randomBytes(32);
  const sealed = sealDeterministic(key, 'vpn/private', secret);
  assert.is(sealDeterministic(key, 'vpn/private', secret), sealed, 'an image that carries it builds to the same bytes');
  assert.is.not(sealDeterministic(key, 'vpn/private', `${secret}x`), sealed);
  assert.is.not(sealDeterministic(randomBytes(32), 'vpn/private', secret), sealed);
  assert.not.ok(sealed.includes(secret));
  assert.is(decryptSecret(key, 'vpn/private', sealed), secret);
  assert.throws(() => decryptSecret(key, 'vpn/other', sealed), /does not open/);
});

test('a wrong key, another user, a tampered or malformed string are refused', () => {
  const key = randomBytes(32);
  const sealed = encryptSecret(key, 'alice', secret);
  assert.throws(() => decryptSecret(randomBytes(32), 'alice', sealed), /does not open/);
  assert.throws(() => decryptSecret(key, 'bob', sealed), /does not open/);
  const parts = sealed.split(':');
  assert.ok(parts[3], sealed);
  const body = Buffer.from(parts[3], 'base64url');
  body[0] = body.readUInt8(0) ^ 1;
  assert.throws(
    () => decryptSecret(key, 'alice', [...parts.slice(0, 3), body.toString('base64url')].join(':')),
    /does not open/,
  );
  assert.throws(() => decryptSecret(key, 'alice', `v2:${parts.slice(1).join(':')}`), /not a v1/);
  assert.throws(() => decryptSecret(key, 'alice', 'v1:AA:BB:CC'), /bad IV/);
  assert.throws(() => encryptSecret(randomBytes(16), 'alice', secret), /32 bytes/);
});

test('the key file is created 0600 once, reused, and refused when group or others can read it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-secret-'));
  try {
    const file = join(dir, 'keys', 'otp.key');
    const key = await readOrCreateSecretKey(file);
    assert.is(key.length, 32);
    assert.is((await stat(file)).mode & 0o777, 0o600);
    assert.ok(key.equals(await readOrCreateSecretKey(file)));
    assert.ok(key.equals(await readFile(file)));
    await chmod(file, 0o640);
    await rejects(readSecretKey(file), /open to group or others/);
    await chmod(file, 0o400);
    assert.ok(key.equals(await readSecretKey(file)));
    const short = join(dir, 'short.key');
    await writeFile(short, randomBytes(16), { mode: 0o600 });
    await rejects(readSecretKey(short), /16 bytes/);
    await rejects(readSecretKey(join(dir, 'none.key')), /ENOENT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
