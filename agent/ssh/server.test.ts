import { rejects } from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { generate } from 'otplib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writtenLines } from '../auth/audit.test-support.ts';
import { flood } from '../auth/flood.ts';
import { OtpVerifier } from '../auth/otp.ts';
import { connect, type Fixture, run, startFixture } from './fixture.test-support.ts';

const STEP = 30_000;

async function refused(promise: Promise<unknown>): Promise<string> {
  try {
    const client = (await promise) as { end(): void };
    client.end();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the login was accepted');
}

async function withFixture(body: (f: Fixture) => Promise<void>, options = {}): Promise<void> {
  const f = await startFixture(options);
  try {
    await body(f);
  } finally {
    await f.cleanup();
  }
}

test('key + right code runs status; the audit log has each step and never the code', () =>
  withFixture(async (f) => {
    const code = await f.code();
    const client = await connect(f.server.port, { key: f.alice.privateKey, code });
    const out = await run(client, 'status');
    client.end();
    assert.is(out.code, 0, out.stderr);
    assert.match(out.stdout, /^host test-host 1\.2\.3/);
    assert.match(out.stdout, /controller\s+controller\s+vm\s+stopped/);
    const log = await writtenLines(f.server.audit);
    assert.equal(
      log.map((e) => `${e.action} ${e.result}`),
      ['publickey ok', 'login ok', 'exec ok'],
    );
    assert.is(log[2]?.target, 'status');
    assert.is(log[1]?.who, 'alice');
    assert.is(log[1]?.source, '127.0.0.1');
    const text = await readFile(f.server.audit.file, 'utf8');
    assert.not.ok(text.includes(code), 'the code is not in the audit log');
    const secret = f.users[0]?.otp?.secret;
    assert.ok(secret, 'the fixture user has a sealed secret');
    assert.not.ok(text.includes(f.totpSecret) || text.includes(secret), 'nor the secret');
  }));

test('no key, a wrong key, a wrong code, a user without a code are all refused', () =>
  withFixture(async (f) => {
    const code = await f.code();
    assert.match(await refused(connect(f.server.port, { code })), /authentication methods failed/);
    assert.match(
      await refused(connect(f.server.port, { key: f.stranger.privateKey, code })),
      /authentication methods failed/,
    );
    assert.match(
      await refused(connect(f.server.port, { key: f.alice.privateKey, code: code === '123456' ? '654321' : '123456' })),
      /authentication methods failed/,
    );
    assert.match(
      await refused(connect(f.server.port, { username: 'nocode', key: f.alice.privateKey, code })),
      /authentication methods failed/,
    );
    assert.match(
      await refused(connect(f.server.port, { username: 'mallory', key: f.alice.privateKey, code })),
      /authentication methods failed/,
    );
    const log = await writtenLines(f.server.audit);
    const reasons = log
      .filter((e) => e.result === 'refused' && e.action !== 'disconnect')
      .map((e) => `${e.who} ${e.action} ${e.reason}`);
    assert.equal(reasons, [
      'alice keyboard-interactive publickey-first',
      'alice publickey key-not-authorized',
      'alice keyboard-interactive publickey-first',
      'alice keyboard-interactive wrong-code',
      'nocode publickey no-otp',
      'nocode keyboard-interactive publickey-first',
      'mallory publickey unknown-user',
      'mallory keyboard-interactive publickey-first',
    ]);
    assert.equal(
      log
        .filter((e) => e.action === 'disconnect')
        .map((e) => e.reason)
        .slice(0, 3),
      ['no-key-offered', 'left-after-refusal', 'no-code-given'],
    );
    assert.not.ok((await readFile(f.server.audit.file, 'utf8')).includes(code));
    assert.equal(f.controls.calls, []);
  }));

test('a used code is refused, also after a restart; a code from two steps ago is refused; one step of skew is fine', () =>
  withFixture(async (f) => {
    const code = await f.code();
    (await connect(f.server.port, { key: f.alice.privateKey, code })).end();
    assert.match(
      await refused(connect(f.server.port, { key: f.alice.privateKey, code })),
      /authentication methods failed/,
    );
    await f.restart();
    assert.match(
      await refused(connect(f.server.port, { key: f.alice.privateKey, code })),
      /authentication methods failed/,
    );
    f.clock.now += 10 * STEP;
    assert.match(
      await refused(connect(f.server.port, { key: f.alice.privateKey, code: await f.code(2) })),
      /authentication methods failed/,
    );
    (await connect(f.server.port, { key: f.alice.privateKey, code: await f.code(1) })).end();
    const reasons = (await writtenLines(f.server.audit))
      .filter((e) => e.action === 'keyboard-interactive')
      .map((e) => e.reason);
    assert.equal(reasons, ['replayed', 'replayed', 'wrong-code']);
  }));

test('HOTP users log in with the next counter code and cannot reuse it', () =>
  withFixture(async (f) => {
    const first = await generate({ secret: f.hotpSecret, strategy: 'hotp', counter: 0 });
    (await connect(f.server.port, { username: 'henry', key: f.alice.privateKey, code: first })).end();
    assert.match(
      await refused(connect(f.server.port, { username: 'henry', key: f.alice.privateKey, code: first })),
      /authentication methods failed/,
    );
    (
      await connect(f.server.port, {
        username: 'henry',
        key: f.alice.privateKey,
        code: await generate({ secret: f.hotpSecret, strategy: 'hotp', counter: 1 }),
      })
    ).end();
  }));

test('failures lock the user out, even with the right code, until the lock-out expires', () =>
  withFixture(
    async (f) => {
      for (let i = 0; i < 3; i++) await refused(connect(f.server.port, { key: f.alice.privateKey, code: '000000' }));
      const code = await f.code();
      assert.match(
        await refused(connect(f.server.port, { key: f.alice.privateKey, code })),
        /authentication methods failed/,
      );
      f.clock.now += 60_000;
      const client = await connect(f.server.port, { key: f.alice.privateKey, code: await f.code() });
      assert.is((await run(client, 'help')).code, 0);
      client.end();
      const log = await writtenLines(f.server.audit);
      assert.ok(
        log.some((e) => e.result === 'refused' && e.reason !== undefined && /^locked-out for 60 s$/.test(e.reason)),
        JSON.stringify(log),
      );
    },
    { lockout: { freeFailures: 5, lockAfter: 3, lockMs: 60_000 } },
  ));

test('back-off after free failures refuses attempts for a while, then lets them through', () =>
  withFixture(
    async (f) => {
      for (let i = 0; i < 2; i++) await refused(connect(f.server.port, { key: f.alice.privateKey, code: '000000' }));
      assert.match(
        await refused(connect(f.server.port, { key: f.alice.privateKey, code: await f.code() })),
        /authentication methods failed/,
      );
      f.clock.now += 5_000;
      (await connect(f.server.port, { key: f.alice.privateKey, code: await f.code() })).end();
      assert.ok((await writtenLines(f.server.audit)).some((e) => e.reason === 'backing-off for 5 s'));
    },
    { lockout: { freeFailures: 1, baseDelayMs: 5_000, lockAfter: 10 } },
  ));

test('the host key is made once, 0600, reused after restart, and its fingerprint is what ssh-keygen prints', () =>
  withFixture(async (f) => {
    const file = join(f.stateDir, 'ssh_host_ed25519_key');
    assert.is((await stat(file)).mode & 0o777, 0o600);
    const before = f.server.fingerprint;
    await f.restart();
    assert.is(f.server.fingerprint, before);
    assert.match(
      execFileSync('ssh-keygen', ['-lf', file], { encoding: 'utf8' }),
      new RegExp(`^256 ${before.replace(/[+/]/g, '\\$&')} `),
    );
    await chmod(file, 0o644);
    await rejects(f.restart(), /open to group or others/);
  }));

test('a code used at the HTTP API (a shared verifier) is refused over SSH', async () => {
  const first = await startFixture();
  const http = new OtpVerifier(first.users, first.key, first.stateDir, { now: () => first.clock.now });
  await first.cleanup();
  await withFixture(
    async (f) => {
      const code = await f.code();
      assert.equal(await http.verify('alice', code), { ok: true });
      assert.match(
        await refused(connect(f.server.port, { key: f.alice.privateKey, code })),
        /authentication methods failed/,
      );
    },
    { shared: { otp: http } },
  );
  await rm(first.dir, { recursive: true, force: true });
});

test('no login when its audit line cannot be written', () =>
  withFixture(async (f) => {
    await mkdir(f.server.audit.file, { recursive: true });
    assert.match(
      await refused(connect(f.server.port, { key: f.alice.privateKey, code: await f.code() })),
      /authentication methods failed/,
    );
  }));

test('connections beyond the limit are closed at once; slots free up when they go', () =>
  withFixture(
    async (f) => {
      const idle = await Promise.all(
        [0, 1].map(
          () =>
            new Promise<Socket>((resolve) => {
              const s = createConnection(f.server.port, '127.0.0.1', () => resolve(s));
            }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.match(
        await refused(connect(f.server.port, { key: f.alice.privateKey, code: await f.code() })),
        /closed|ECONNRESET|handshake/i,
      );
      for (const socket of idle) socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 200));
      f.clock.now += STEP;
      (await connect(f.server.port, { key: f.alice.privateKey, code: await f.code() })).end();
      assert.ok((await writtenLines(f.server.audit)).some((e) => e.reason === 'too-many-connections'));
    },
    { maxConnections: 2 },
  ));

test('a client that never logs in is cut off after the login grace', () =>
  withFixture(
    async (f) => {
      const socket = createConnection(f.server.port, '127.0.0.1').resume();
      const started = Date.now();
      await new Promise((resolve) => socket.on('close', resolve));
      assert.ok(Date.now() - started >= 900 && Date.now() - started < 5000, `${Date.now() - started} ms`);
    },
    { loginGraceSeconds: 1 },
  ));

test('100 silent connections from one source: the excess is closed at once, a login from another source works within 2 s', () =>
  withFixture(async (f) => {
    const attack = await flood(f.server.port, '127.0.0.2', 100);
    try {
      assert.equal(attack.errors, [], 'every attacking socket connected: no fd limit stopped the flood, the caps must');
      await attack.closed(90, 1500);
      const started = Date.now();
      const client = await connect(f.server.port, {
        key: f.alice.privateKey,
        code: await f.code(),
        localAddress: '127.0.0.3',
      });
      const took = Date.now() - started;
      assert.is((await run(client, 'help')).code, 0);
      client.end();
      assert.ok(took < 2000, `the login took ${took} ms`);
    } finally {
      attack.end();
    }
  }));

test('when other sources fill the caps, a login from loopback still gets in', () =>
  withFixture(
    async (f) => {
      const held = [await flood(f.server.port, '127.0.0.2', 2), await flood(f.server.port, '127.0.0.3', 2)];
      try {
        const overTotal = await flood(f.server.port, '127.0.0.4', 1);
        await overTotal.closed(1, 1000);
        overTotal.end();
        assert.equal(
          held.map((h) => h.closedByServer),
          [0, 0],
        );
        const client = await connect(f.server.port, { key: f.alice.privateKey, code: await f.code() });
        assert.is((await run(client, 'help')).code, 0);
        client.end();
      } finally {
        for (const h of held) h.end();
      }
    },
    { maxConnections: 4, maxConnectionsPerSource: 2 },
  ));

test.run();
