// Logins under attack: parallel guesses stop at the lock-out count, the hash queue sheds load before hashing, a flood
// keeps the audit small.
import { readFile, stat } from 'node:fs/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AgentStatus, ApiError } from '../../common/api-types.ts';
import { tally, writtenLines } from '../auth/audit.test-support.ts';
import { type Answer, call, startFixture } from './fixture.test-support.ts';

// Connection caps out of the way, so these tests see the lock-out and the hash queue alone.
const OPEN_LIMITS = { perSource: 1000, maxConnections: 1000 };

function statuses(answers: Answer[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
  return counts;
}

test('200 parallel wrong passwords and 60 parallel code guesses are cut at the lock-out count', async () => {
  const fx = await startFixture({
    lockout: { freeFailures: 10, lockAfter: 10, lockMs: 60_000 },
    limits: OPEN_LIMITS,
    hashQueue: { depth: 1000 },
  });
  const post = (count: number, body: Record<string, string>, localAddress?: string) =>
    Promise.all(
      Array.from({ length: count }, () =>
        call(fx.url, 'POST', '/login', { body, ...(localAddress ? { localAddress } : {}) }),
      ),
    );
  try {
    const passwords = await post(200, { user: 'alice', password: 'guess', code: '123456' });
    assert.equal(statuses(passwords), { 401: 10, 429: 190 });
    const code = await fx.code('bob');
    const codes = await post(
      60,
      { user: 'bob', password: fx.users[1]!.password, code: code === '000000' ? '111111' : '000000' },
      '127.0.0.2',
    );
    assert.equal(statuses(codes), { 401: 10, 429: 50 });
    const lines = await writtenLines(fx.api.audit);
    assert.is(
      tally(lines, (l) => l.reason === 'wrong-password'),
      10,
      'ten passwords were checked',
    );
    assert.is(
      tally(lines, (l) => l.reason === 'wrong-code'),
      10,
      'ten codes were checked',
    );
  } finally {
    await fx.close();
  }
});

test('beyond the hash queue logins get 429 with Retry-After before any hashing, and file reads stay fast', async () => {
  const fx = await startFixture({ lockout: { freeFailures: 1000, lockAfter: 1000 }, limits: OPEN_LIMITS });
  try {
    const attempts = Promise.all(
      Array.from({ length: 100 }, () =>
        call(fx.url, 'POST', '/login', { body: { user: 'alice', password: 'guess', code: '123456' } }),
      ),
    );
    let slowest = 0;
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 80));
      const started = Date.now();
      await readFile(new URL(import.meta.url));
      slowest = Math.max(slowest, Date.now() - started);
    }
    const answers = await attempts;
    const busy = answers.filter((a) => a.status === 429);
    const hashed = answers.filter((a) => a.status === 401);
    assert.is(busy.length + hashed.length, 100);
    assert.ok(busy.length >= 50, `${busy.length} were refused as busy`);
    for (const a of busy) {
      assert.ok(Number(a.headers['retry-after']) >= 1, `Retry-After ${a.headers['retry-after']}`);
      assert.match((a.json as ApiError).error, /busy/);
    }
    const lines = await writtenLines(fx.api.audit);
    assert.is(
      tally(lines, (l) => l.reason === 'wrong-password'),
      hashed.length,
      'only the 401s were hashed',
    );
    assert.is(
      tally(lines, (l) => l.reason === 'busy'),
      busy.length,
    );
    assert.ok(slowest < 500, `a file read took ${slowest} ms while logins were hashed`);
  } finally {
    await fx.close();
  }
});

test('a flood of failed logins keeps the audit log small, long names cut, and GET /status says entries were dropped', async () => {
  const fx = await startFixture({ limits: OPEN_LIMITS });
  try {
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          call(fx.url, 'POST', '/login', {
            body: { user: `u${round}-${i}-${'x'.repeat(1000)}`, password: 'p', code: '1' },
          }),
        ),
      );
    }
    await fx.api.audit.close();
    const size = (await stat(fx.api.audit.file)).size;
    assert.ok(size < 64 * 1024, `audit.log is ${size} bytes after 500 failed logins`);
    const lines = await writtenLines(fx.api.audit);
    assert.ok(
      lines.every((l) => String(l.who).length < 600),
      'long user names are cut',
    );
    const login = await call(fx.url, 'POST', '/login', {
      body: { user: 'alice', password: fx.users[0]!.password, code: await fx.code('alice') },
      localAddress: '127.0.0.3',
    });
    assert.is(login.status, 200, login.text);
    const cookie = String(login.headers['set-cookie']![0]).split(';')[0]!;
    const status = await call(fx.url, 'GET', '/status', { headers: { cookie }, localAddress: '127.0.0.3' });
    const { audit: counts, warnings } = status.json as AgentStatus;
    assert.ok((counts?.dropped ?? 0) > 0, JSON.stringify(counts));
    assert.ok(
      warnings.some((w) => /audit log: [0-9]+ entries dropped/.test(w)),
      warnings.join('\n'),
    );
  } finally {
    await fx.close();
  }
});

test.run();
