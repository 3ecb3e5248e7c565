import { rejects } from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decryptSecret, readSecretKey } from '../../common/secrets/otp-secret.ts';
import { verifyPassword } from '../../common/secrets/password.ts';
import { IMAGE_SECRET_KEY, resolveHostUsers } from './host-users.ts';
import { enrollOtp, readUserStore, setPassword, storeFiles } from './store.ts';

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-store-'));
  try {
    await run(join(dir, 'keys'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('enrollment stores the secret sealed (0600), returns its otpauth URI, refuses a second one without replace', () =>
  withDir(async (dir) => {
    const e = await enrollOtp(dir, 'alice', 'totp');
    assert.match(e.secret, /^[A-Z2-7]{32}$/);
    assert.is(e.uri, `otpauth://totp/Multiverse:alice?secret=${e.secret}&issuer=Multiverse`);
    const files = storeFiles(dir);
    assert.is((await stat(files.users)).mode & 0o777, 0o600);
    assert.is((await stat(files.key)).mode & 0o777, 0o600);
    const text = await readFile(files.users, 'utf8');
    assert.not.ok(text.includes(e.secret), 'the secret is not stored in clear');
    const stored = (await readUserStore(dir)).users.alice?.otp;
    assert.ok(stored, 'alice is enrolled');
    assert.is(decryptSecret(await readSecretKey(files.key), 'alice', stored.secret), e.secret);
    await rejects(enrollOtp(dir, 'alice', 'hotp'), /already has a one-time code/);
    const again = await enrollOtp(dir, 'alice', 'hotp', { replace: true });
    assert.match(again.uri, /^otpauth:\/\/hotp\/.*&counter=0$/);
    assert.is.not(again.secret, e.secret);
  }));

test('passwords are stored as scrypt hashes beside the secret; bad names, short passwords and repo folders are refused', () =>
  withDir(async (dir) => {
    await enrollOtp(dir, 'alice', 'totp');
    await setPassword(dir, 'alice', 'correct horse');
    const user = (await readUserStore(dir)).users.alice;
    assert.ok(user?.otp, 'the enrollment is kept');
    assert.ok(await verifyPassword(user.passwordHash!, 'correct horse'));
    assert.not.ok((await readFile(storeFiles(dir).users, 'utf8')).includes('correct horse'));
    await rejects(setPassword(dir, 'alice', 'short'), /at least 8/);
    await rejects(enrollOtp(dir, 'Alice;rm', 'totp'), /not a user name/);
    await rejects(enrollOtp(join(process.cwd(), 'keys-in-repo'), 'alice', 'totp'), /inside the git checkout/);
    assert.not.ok(existsSync(join(process.cwd(), 'keys-in-repo')));
    await chmod(storeFiles(dir).users, 0o644);
    await rejects(readUserStore(dir), /open to group or others/);
  }));

test('host users: recipe users joined with the store; missing enrollments and passwords are UserErrors with the command to run', () =>
  withDir(async (dir) => {
    assert.equal(await resolveHostUsers([], dir), { users: [] });
    await enrollOtp(dir, 'alice', 'totp');
    await setPassword(dir, 'alice', 'correct horse');
    const alice = (await readUserStore(dir)).users.alice;
    assert.ok(alice, 'alice is in the store');
    const resolved = await resolveHostUsers(
      [
        { name: 'alice', authorizedKeys: ['ssh-ed25519 AAAA a'], otp: 'totp', password: true },
        { name: 'web', authorizedKeys: [], otp: 'none', password: false },
      ],
      dir,
    );
    assert.equal(resolved.users, [
      { name: 'alice', authorizedKeys: ['ssh-ed25519 AAAA a'], otp: alice.otp, passwordHash: alice.passwordHash },
      { name: 'web', authorizedKeys: [] },
    ]);
    assert.ok(resolved.secretKey!.equals(await readSecretKey(storeFiles(dir).key)));
    assert.is(IMAGE_SECRET_KEY, '/etc/mvos/secret.key');
    await rejects(
      resolveHostUsers([{ name: 'bob', authorizedKeys: [], otp: 'hotp', password: false }], dir),
      (error: Error & { hint?: string }) => {
        assert.match(error.message, /bob needs a hotp one-time code, but none is enrolled/);
        assert.match(error.hint!, /`mvos otp enroll bob --type hotp`/);
        return error.name === 'UserError';
      },
    );
    await rejects(
      resolveHostUsers([{ name: 'alice', authorizedKeys: [], otp: 'hotp', password: false }], dir),
      /enrolled for totp, but the recipe asks for hotp/,
    );
    await rejects(
      resolveHostUsers([{ name: 'web', authorizedKeys: [], otp: 'none', password: true }], dir),
      (error: Error & { hint?: string }) => /mvos user passwd web/.test(error.hint!),
    );
  }));

test.run();
