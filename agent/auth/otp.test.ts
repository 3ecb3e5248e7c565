import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../../common/temp-dir.ts';
import type { AgentUser } from '../config.ts';
import { OtpVerifier } from './otp.ts';
import { encryptSecret } from './secrets.ts';

// RFC 4226 appendix D and RFC 6238 appendix B share this seed, "12345678901234567890", here in base32.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const key = randomBytes(32);

function users(type: 'totp' | 'hotp', secret = RFC_SECRET): AgentUser[] {
  return [
    { name: 'alice', authorizedKeys: [], otp: { type, secret: encryptSecret(key, 'alice', secret) } },
    { name: 'bob', authorizedKeys: [] },
  ];
}

test('TOTP: the RFC 6238 SHA-1 vectors (last six digits) are accepted at their times', () =>
  withTempDir('mvos-otp-', async (dir) => {
    let now = 0;
    const otp = new OtpVerifier(users('totp'), key, dir, { now: () => now });
    const vectors: Array<[number, string]> = [
      [59, '287082'],
      [1111111109, '081804'],
      [1111111111, '050471'],
      [1234567890, '005924'],
      [2000000000, '279037'],
      [20000000000, '353130'],
    ];
    for (const [seconds, code] of vectors) {
      now = seconds * 1000;
      assert.equal(await otp.verify('alice', code), { ok: true }, `T=${seconds}`);
    }
  }));

test('TOTP: one step of skew either way is accepted, two steps ago is refused, a used code never again', () =>
  withTempDir('mvos-otp-', async (dir) => {
    let now = 1111111109_000;
    const otp = new OtpVerifier(users('totp'), key, dir, { now: () => now });
    now += 30_000;
    assert.equal(await otp.verify('alice', '081804'), { ok: true }, 'one step late');
    assert.equal(await otp.verify('alice', '081804'), { ok: false, reason: 'replayed' });
    now += 30_000;
    assert.equal(await otp.verify('alice', '081804'), { ok: false, reason: 'wrong-code' }, 'two steps ago');
    now = 1234567890_000 - 30_000;
    assert.equal(await otp.verify('alice', '005924'), { ok: true }, 'one step early');
    now = 1234567890_000;
    assert.equal(await otp.verify('alice', '005924'), { ok: false, reason: 'replayed' });
    const restarted = new OtpVerifier(users('totp'), key, dir, { now: () => now });
    assert.equal(
      await restarted.verify('alice', '005924'),
      { ok: false, reason: 'replayed' },
      'still refused after a restart',
    );
    assert.is((await stat(join(dir, 'otp-state.json'))).mode & 0o777, 0o600);
    assert.not.ok((await readFile(join(dir, 'otp-state.json'), 'utf8')).includes(RFC_SECRET));
  }));

test('TOTP: two logins racing with the same code get one acceptance', () =>
  withTempDir('mvos-otp-', async (dir) => {
    const otp = new OtpVerifier(users('totp'), key, dir, { now: () => 59_000 });
    const results = await Promise.all([otp.verify('alice', '287082'), otp.verify('alice', '287082')]);
    assert.equal(results, [{ ok: true }, { ok: false, reason: 'replayed' }]);
  }));

test('two verifiers on one state folder (SSH and HTTP) never both accept a code', () =>
  withTempDir('mvos-otp-', async (dir) => {
    const ssh = new OtpVerifier(users('totp'), key, dir, { now: () => 59_000 });
    const http = new OtpVerifier(users('totp'), key, dir, { now: () => 59_000 });
    const results = await Promise.all([ssh.verify('alice', '287082'), http.verify('alice', '287082')]);
    assert.equal(results, [{ ok: true }, { ok: false, reason: 'replayed' }]);
    assert.equal(
      await http.verify('alice', '287082'),
      { ok: false, reason: 'replayed' },
      "the second sees the first one's record",
    );
  }));

test('HOTP: the RFC 4226 vectors in order, look-ahead, replay of skipped and used counters, persistence', () =>
  withTempDir('mvos-otp-', async (dir) => {
    const hotp = [
      '755224',
      '287082',
      '359152',
      '969429',
      '338314',
      '254676',
      '287922',
      '162583',
      '399871',
      '520489',
    ] as const;
    const otp = new OtpVerifier(users('hotp'), key, dir, { hotpLookAhead: 5 });
    assert.equal(await otp.verify('alice', hotp[0]), { ok: true });
    assert.equal(await otp.verify('alice', hotp[1]), { ok: true });
    assert.equal(await otp.verify('alice', hotp[0]), { ok: false, reason: 'replayed' });
    assert.equal(await otp.verify('alice', hotp[9]), { ok: false, reason: 'wrong-code' }, 'beyond the look-ahead');
    assert.equal(await otp.verify('alice', hotp[6]), { ok: true }, 'within the look-ahead');
    assert.equal(await otp.verify('alice', hotp[4]), { ok: false, reason: 'replayed' }, 'a skipped counter is spent');
    const restarted = new OtpVerifier(users('hotp'), key, dir, { hotpLookAhead: 5 });
    assert.equal(await restarted.verify('alice', hotp[6]), { ok: false, reason: 'replayed' });
    assert.equal(await restarted.verify('alice', hotp[7]), { ok: true });
  }));

test('a re-enrolled secret starts a fresh record', () =>
  withTempDir('mvos-otp-', async (dir) => {
    const first = new OtpVerifier(users('hotp'), key, dir);
    assert.equal(await first.verify('alice', '755224'), { ok: true });
    const other = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    const { generate } = await import('otplib');
    const reenrolled = new OtpVerifier(users('hotp', other), key, dir);
    assert.equal(await reenrolled.verify('alice', await generate({ secret: other, strategy: 'hotp', counter: 0 })), {
      ok: true,
    });
  }));

test('unknown users, users without a code and malformed codes are refused; a wrong key stops construction', () =>
  withTempDir('mvos-otp-', async (dir) => {
    const otp = new OtpVerifier(users('totp'), key, dir, { now: () => 59_000 });
    assert.equal(await otp.verify('mallory', '287082'), { ok: false, reason: 'unknown-user' });
    assert.equal(await otp.verify('bob', '287082'), { ok: false, reason: 'no-otp' });
    for (const code of ['', '28708', '2870821', '28708a', ' 287082', '287082\n']) {
      assert.equal(await otp.verify('alice', code), { ok: false, reason: 'wrong-code' }, JSON.stringify(code));
    }
    assert.throws(() => new OtpVerifier(users('totp'), randomBytes(32), dir), /does not open/);
    assert.throws(() => new OtpVerifier(users('totp'), undefined, dir), /no secret key/);
  }));

test.run();
