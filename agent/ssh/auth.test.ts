// Code guesses over SSH: parallel connections stop at the lock-out count, and SSH and HTTP count failures into one
// lock-out.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { call, startFixture as startApiFixture } from '../api/fixture.test-support.ts';
import { tally, writtenLines } from '../auth/audit.test-support.ts';
import { connect, startFixture } from './fixture.test-support.ts';

async function refused(promise: Promise<{ end(): void }>): Promise<string> {
  try {
    (await promise).end();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the login was accepted');
}

test('60 parallel code guesses are cut at the lock-out count', async () => {
  const f = await startFixture({
    lockout: { freeFailures: 10, lockAfter: 10, lockMs: 60_000 },
    maxConnections: 200,
    maxConnectionsPerSource: 200,
  });
  try {
    const code = await f.code();
    const wrong = code === '000000' ? '111111' : '000000';
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, () => connect(f.server.port, { key: f.alice.privateKey, code: wrong })),
    );
    assert.ok(results.every((r) => r.status === 'rejected'));
    const lines = await writtenLines(f.server.audit);
    assert.is(
      tally(lines, (l) => l.action === 'keyboard-interactive' && l.reason === 'wrong-code'),
      10,
      'ten codes were checked',
    );
    assert.ok(lines.some((l) => /^locked-out for 60 s$/.test(l.reason ?? '')));
  } finally {
    await f.cleanup();
  }
});

test('failures over SSH count toward the HTTP lock-out', async () => {
  const http = await startApiFixture({ lockout: { freeFailures: 2, baseDelayMs: 60_000 } });
  const f = await startFixture({ shared: { lockout: http.api.shared.lockout } });
  try {
    for (let i = 0; i < 3; i++)
      await refused(connect(f.server.port, { key: f.alice.privateKey, code: '000000', localAddress: '127.0.0.2' }));
    const answer = await call(http.url, 'POST', '/login', {
      body: { user: 'alice', password: http.users[0]!.password, code: await http.code('alice') },
      localAddress: '127.0.0.3',
    });
    assert.is(answer.status, 429, 'alice is backing off, whichever door she knocks on');
  } finally {
    await f.cleanup();
    await http.close();
  }
});

test('failures over HTTP count toward the SSH lock-out', async () => {
  const http = await startApiFixture({ lockout: { freeFailures: 2, baseDelayMs: 60_000 } });
  const f = await startFixture({ shared: { lockout: http.api.shared.lockout } });
  try {
    for (let i = 0; i < 3; i++) {
      const answer = await call(http.url, 'POST', '/login', {
        body: { user: 'alice', password: 'guess', code: '123456' },
        localAddress: '127.0.0.2',
      });
      assert.is(answer.status, 401);
    }
    await refused(connect(f.server.port, { key: f.alice.privateKey, code: await f.code(), localAddress: '127.0.0.3' }));
    assert.ok(
      (await writtenLines(f.server.audit)).some(
        (l) => l.who === 'alice' && /^backing-off for [0-9]+ s$/.test(l.reason ?? ''),
      ),
    );
  } finally {
    await f.cleanup();
    await http.close();
  }
});

test.run();
