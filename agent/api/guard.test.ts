// The TCP listener under a connection flood: per-source caps close the excess at once, timeouts close slow clients,
// loopback keeps its slot.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ApiAnswers } from '../../common/api-types.ts';
import { flood } from '../auth/flood.ts';
import { call, type Fixture, startFixture } from './fixture.test-support.ts';

const SLOW_HEADERS = 'POST /login HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n';

function portOf(fx: Fixture): number {
  return Number(new URL(fx.url).port);
}

async function loginFrom(fx: Fixture, localAddress?: string): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  const answer = await call(fx.url, 'POST', '/login', {
    body: { user: 'alice', password: fx.users[0]!.password, code: await fx.code('alice') },
    ...(localAddress ? { localAddress } : {}),
  });
  return { status: answer.status, ms: Date.now() - started };
}

test('500 slow-header sockets from one source: the excess is closed at once, a login from another source works within 2 s', async () => {
  const fx = await startFixture();
  const attack = await flood(portOf(fx), '127.0.0.2', 500, SLOW_HEADERS);
  try {
    assert.equal(attack.errors, [], 'every attacking socket connected: no fd limit stopped the flood, the caps must');
    assert.is(attack.connected, 500);
    await attack.closed(450, 1500);
    assert.ok(attack.closedByServer < 500, 'a few are served (up to the per-source cap)');
    const login = await loginFrom(fx, '127.0.0.3');
    assert.is(login.status, 200);
    assert.ok(login.ms < 2000, `the login took ${login.ms} ms`);
  } finally {
    attack.end();
    await fx.close();
  }
});

test('a client that sends nothing, or trickles its headers, is closed after the header timeout', async () => {
  const fx = await startFixture({ limits: { headersTimeoutMs: 500 } });
  const silent = await flood(portOf(fx), '127.0.0.2', 1);
  const trickle = await flood(portOf(fx), '127.0.0.3', 1, SLOW_HEADERS);
  const drip = setInterval(() => trickle.sockets[0]!.write('X-Drip: 1\r\n'), 100);
  try {
    await silent.closed(1, 2500);
    await trickle.closed(1, 2500);
  } finally {
    clearInterval(drip);
    silent.end();
    trickle.end();
    await fx.close();
  }
});

test('an answer that takes longer than the idle timeout is waited for; the kept-alive socket after it is closed soon', async () => {
  const fx = await startFixture({ limits: { idleTimeoutMs: 300, keepAliveTimeoutMs: 300 } });
  try {
    const start = fx.controls.startVm.bind(fx.controls);
    fx.controls.startVm = async (name) => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return start(name);
    };
    const login = await call(fx.url, 'POST', '/login', {
      body: { user: 'alice', password: fx.users[0]!.password, code: await fx.code('alice') },
    });
    const cookie = String(login.headers['set-cookie']![0]).split(';')[0]!;
    const { Agent, request } = await import('node:http');
    const agent = new Agent({ keepAlive: true });
    const closed = await new Promise<{ status: number; closedAfterMs: number }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: portOf(fx),
          method: 'POST',
          path: '/api/vms/rescue/start',
          agent,
          headers: { cookie, 'x-csrf-token': (login.json as ApiAnswers['POST /login']).csrf },
        },
        (res) => {
          res.resume();
          const answered = Date.now();
          res.socket.on('close', () => resolve({ status: res.statusCode!, closedAfterMs: Date.now() - answered }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.is(closed.status, 200, 'the slow start was answered');
    assert.ok(
      closed.closedAfterMs < 2000,
      `the idle keep-alive socket lived ${closed.closedAfterMs} ms after the answer`,
    );
    agent.destroy();
  } finally {
    await fx.close();
  }
});

test('when other sources fill the caps, loopback and the unix socket still get in', async () => {
  const fx = await startFixture({ limits: { perSource: 2, maxConnections: 4 } });
  const held = [
    await flood(portOf(fx), '127.0.0.2', 2, SLOW_HEADERS),
    await flood(portOf(fx), '127.0.0.3', 2, SLOW_HEADERS),
  ];
  try {
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(
      held.map((h) => h.closedByServer),
      [0, 0],
      'within their caps',
    );
    const overSource = await flood(portOf(fx), '127.0.0.2', 1, SLOW_HEADERS);
    const overTotal = await flood(portOf(fx), '127.0.0.4', 1, SLOW_HEADERS);
    await overSource.closed(1, 1000);
    await overTotal.closed(1, 1000);
    assert.is((await loginFrom(fx)).status, 200, 'from 127.0.0.1');
    assert.is((await call(fx.socket, 'GET', '/api/vms')).status, 200, 'the unix socket');
    overSource.end();
    overTotal.end();
  } finally {
    for (const h of held) h.end();
    await fx.close();
  }
});

test.run();
