import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../../common/temp-dir.ts';
import { type AuditEntry, AuditLog, scrub } from './audit.ts';

test('entries are appended as JSON lines with their time, file 0600', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-audit-'));
  try {
    const log = new AuditLog(dir, () => new Date('2026-01-02T03:04:05.000Z'));
    await log.record({ who: 'alice', source: '10.0.0.1', action: 'login', result: 'ok' });
    await log.record({
      who: 'alice',
      source: '10.0.0.1',
      action: 'exec',
      target: 'vm start web',
      result: 'refused',
      reason: 'unknown VM',
    });
    await log.close();
    const again = new AuditLog(dir);
    await again.record({ who: 'bob', source: '10.0.0.2', action: 'login', result: 'refused' });
    await again.close();
    const lines = (await readFile(log.file, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines[0], {
      time: '2026-01-02T03:04:05.000Z',
      who: 'alice',
      source: '10.0.0.1',
      action: 'login',
      result: 'ok',
    });
    assert.is(lines[1].reason, 'unknown VM');
    assert.is(lines[2].who, 'bob');
    assert.is((await stat(log.file)).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a logged attempt never contains the code, password or secret, at any depth', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-audit-'));
  try {
    const log = new AuditLog(dir);
    await log.record({
      who: 'alice',
      source: '10.0.0.1',
      action: 'login',
      result: 'refused',
      reason: 'wrong-code',
      code: '287082',
      otp: '287082',
      otpCode: '287082',
      password: 'hunter2',
      passwd: 'hunter2',
      secret: 'GEZDGNBV',
      responses: ['287082'],
      privateKey: 'PRIVATE',
      detail: { token: 'tok', nested: [{ answer: '287082' }], method: 'keyboard-interactive' },
    });
    await log.close();
    const text = await readFile(log.file, 'utf8');
    for (const leak of ['287082', 'hunter2', 'GEZDGNBV', 'tok"', 'PRIVATE']) assert.not.ok(text.includes(leak), leak);
    assert.equal(JSON.parse(text).detail, { nested: [{}], method: 'keyboard-interactive' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// An audit line as written: the entry and its time, or a `repeated` summary, or a `dropped` notice.
type Written = AuditEntry & {
  time: string;
  repeated?: number;
  firstRepeat?: string;
  lastRepeat?: string;
  dropped?: number;
};

async function lines(dir: string, name = 'audit.log'): Promise<Written[]> {
  return (await readFile(join(dir, name), 'utf8'))
    .trimEnd()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const refusal = (who: string, source = '10.0.0.9') => ({
  who,
  source,
  action: 'login',
  result: 'refused' as const,
  reason: 'wrong-password',
});

test('identical refusals are written a few times, then counted: one line says how many more there were', () =>
  withTempDir('mvos-audit-', async (dir) => {
    let now = Date.parse('2026-01-02T03:00:00Z');
    const log = new AuditLog(dir, () => new Date(now), { repeatBurst: 3, repeatWindowMs: 60_000 });
    for (let i = 0; i < 1000; i++) {
      void log.record(refusal('mallory'));
      now += 10;
    }
    await log.record({ who: 'alice', source: '10.0.0.1', action: 'login', result: 'ok' });
    await log.close();
    const written = await lines(dir);
    assert.is(written.length, 5, `${written.length} lines`);
    assert.equal(
      written.slice(0, 3).map((l) => l.repeated),
      [undefined, undefined, undefined],
    );
    const summary = written.find((l) => l.repeated !== undefined)!;
    assert.is(summary.repeated, 997);
    assert.equal([summary.who, summary.reason], ['mallory', 'wrong-password']);
    assert.ok(summary.firstRepeat! < summary.lastRepeat!);
    assert.is(log.stats().suppressed, 997);
    assert.ok(written.some((l) => l.who === 'alice' && l.result === 'ok'));
  }));

test('a new window writes the event again; successes are never counted away', () =>
  withTempDir('mvos-audit-', async (dir) => {
    let now = 0;
    const log = new AuditLog(dir, () => new Date(now), { repeatBurst: 1, repeatWindowMs: 1000 });
    for (let i = 0; i < 5; i++) await log.record({ who: 'alice', source: '10.0.0.1', action: 'login', result: 'ok' });
    await log.record(refusal('bob'));
    await log.record(refusal('bob'));
    now += 1000;
    await log.record(refusal('bob'));
    await log.close();
    const written = await lines(dir);
    assert.is(written.filter((l) => l.result === 'ok').length, 5);
    assert.equal(
      written.filter((l) => l.who === 'bob').map((l) => l.repeated ?? 0),
      [0, 1, 0],
    );
  }));

test('long attacker-supplied fields are cut, at any depth, saying how much was cut', () =>
  withTempDir('mvos-audit-', async (dir) => {
    const log = new AuditLog(dir, undefined, { maxFieldChars: 64 });
    await log.record({
      who: 'x'.repeat(100_000),
      source: '10.0.0.9',
      action: 'login',
      result: 'refused',
      detail: { path: ['y'.repeat(5000)] },
    });
    await log.close();
    const [line] = await lines(dir);
    assert.is(line!.who, `${'x'.repeat(64)}…[99936 more]`);
    assert.is((line!.detail as { path: string[] }).path[0], `${'y'.repeat(64)}…[4936 more]`);
    assert.ok((await stat(log.file)).size < 400);
  }));

test('the file rotates by size and keeps a bounded number of old files, all 0600', () =>
  withTempDir('mvos-audit-', async (dir) => {
    const log = new AuditLog(dir, undefined, { maxBytes: 4096, keepFiles: 2 });
    for (let i = 0; i < 300; i++)
      await log.record({
        who: 'alice',
        source: '10.0.0.1',
        action: 'exec',
        target: `vm status web ${i}`,
        result: 'ok',
      });
    await log.close();
    assert.equal((await readdir(dir)).sort(), ['audit.log', 'audit.log.1', 'audit.log.2']);
    for (const name of ['audit.log', 'audit.log.1', 'audit.log.2']) {
      const info = await stat(join(dir, name));
      assert.ok(info.size <= 4096, `${name} is ${info.size} bytes`);
      assert.is(info.mode & 0o777, 0o600);
    }
    const newest = await lines(dir);
    assert.is(newest.at(-1)!.target, 'vm status web 299');
    const index = (line: Written) => Number(/([0-9]+)$/.exec(line.target!)![1]);
    assert.is(
      index((await lines(dir, 'audit.log.1')).at(-1)!) + 1,
      index(newest[0]!),
      'audit.log.1 holds the lines just before',
    );
    assert.ok(log.stats().rotations > 2);
  }));

test('a flood of unauthenticated failures stays under the cap; successes all land; stats say what was dropped', () =>
  withTempDir('mvos-audit-', async (dir) => {
    let now = Date.parse('2026-01-02T03:00:00Z');
    const policy = {
      maxBytes: 64 * 1024,
      keepFiles: 2,
      maxFieldChars: 128,
      perSourcePerSecond: 1,
      perSourceBurst: 20,
      perSecond: 10,
      burst: 100,
    };
    const log = new AuditLog(dir, () => new Date(now), policy);
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < 20_000; i++) {
      // Every event different (names, long fields), from 50 sources, 2000 per second.
      pending.push(
        log.record({
          ...refusal(`user${i}-${'z'.repeat(2000)}`, `10.0.${i % 50}.1`),
          reason: `bad ${'r'.repeat(3000)} ${i}`,
        }),
      );
      if (i % 100 === 0)
        pending.push(
          log.record({ who: 'alice', source: '10.0.0.1', action: 'exec', target: `status ${i}`, result: 'ok' }),
        );
      now += 0.5;
    }
    await Promise.all(pending);
    await log.close();
    const names = await readdir(dir);
    let total = 0;
    for (const name of names) total += (await stat(join(dir, name))).size;
    assert.ok(names.length <= 3, names.join());
    assert.ok(total <= 3 * 64 * 1024, `${total} bytes`);
    const written = (await Promise.all(names.map((n) => lines(dir, n)))).flat();
    assert.is(written.filter((l) => l.result === 'ok').length, 200, 'every success was written');
    const stats = log.stats();
    assert.ok(stats.dropped > 19_000, JSON.stringify(stats));
    assert.ok(stats.firstDroppedAt && stats.lastDroppedAt);
    const notices = written.filter((l) => l.action === 'audit' && l.dropped !== undefined);
    assert.ok(notices.length > 0, 'the log itself says entries were dropped');
    assert.is(
      notices.reduce((sum, l) => sum + l.dropped!, 0),
      stats.dropped,
    );
  }));

test('scrub keeps ordinary fields', () => {
  assert.equal(scrub({ who: 'a', action: 'exec', fingerprint: 'SHA256:x', exit: 2 }), {
    who: 'a',
    action: 'exec',
    fingerprint: 'SHA256:x',
    exit: 2,
  });
});

test.run();
