// Interactive consoles over the API: a live stream holds the session, input and the keyboard are CSRF-checked POSTs.

import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ApiError } from '../../common/api-types.ts';
import { type Client, call, login, startFixture } from './fixture.test-support.ts';

let clock = Date.now();
const fx = await startFixture({ otp: { now: () => clock } });

async function fresh(user = 'alice'): Promise<Client> {
  clock += 30_000;
  return login(fx, user, await fx.code(user, clock));
}

interface Live {
  id: string;
  first: { writer: boolean; holder?: string };
  text: () => string;
  keyboard: Array<Record<string, unknown>>;
  until: (check: () => boolean, what: string) => Promise<void>;
  close: () => void;
}

// Opens GET …/console/live and reads its events as they come.
function live(target: { cookie?: string; socketPath?: string }, vm: string): Promise<Live> {
  const where = target.socketPath
    ? { socketPath: target.socketPath }
    : { host: '127.0.0.1', port: Number(new URL(fx.url).port) };
  return new Promise((resolve, reject) => {
    const req = request(
      { ...where, path: `/api/vms/${vm}/console/live`, headers: target.cookie ? { cookie: target.cookie } : {} },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`live: ${res.statusCode}`));
        let buffer = '';
        let text = '';
        const keyboard: Array<Record<string, unknown>> = [];
        let resolved = false;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const lines = buffer.slice(0, end).split('\n');
            buffer = buffer.slice(end + 2);
            const type = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
            const data = lines.find((l) => l.startsWith('data: '));
            if (!data) continue;
            const value = JSON.parse(data.slice(6));
            if (type === 'session' && !resolved) {
              resolved = true;
              resolve({
                id: value.id,
                first: value,
                text: () => text,
                keyboard,
                until: async (check, what) => {
                  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
                  assert.ok(check(), `${what}; got …${JSON.stringify(text.slice(-300))} ${JSON.stringify(keyboard)}`);
                },
                close: () => req.destroy(),
              });
            } else if (type === 'keyboard') keyboard.push(value);
            else text += value;
          }
        });
      },
    );
    req.on('error', () => undefined);
    req.end();
  });
}

test('a live session gets the backlog; with the keyboard, input reaches the guest and its answer comes back', async () => {
  const alice = await fresh();
  assert.is((await alice.call('POST', '/api/vms/rescue/start')).status, 200);
  const s = await live(alice, 'rescue');
  assert.equal(s.first, { id: s.id, vm: 'rescue', writer: false });
  await s.until(() => s.text().includes('rescue booted'), 'the backlog comes first');
  const notYet = await alice.call('POST', '/api/vms/rescue/console/input', { body: { session: s.id, data: 'x' } });
  assert.is(notYet.status, 409, 'no input before taking the keyboard');
  const took = await alice.call('POST', '/api/vms/rescue/console/keyboard', { body: { session: s.id } });
  assert.equal([took.status, took.json], [200, { writer: true, holder: 'alice' }]);
  const sent = await alice.call('POST', '/api/vms/rescue/console/input', {
    body: { session: s.id, data: 'echo über\r' },
  });
  assert.equal([sent.status, sent.json], [200, { sent: 11 }]);
  await s.until(() => s.text().includes('echo über\r\nüber\r\n# '), 'the guest answers');
  s.close();
  for (let i = 0; i < 100 && fx.controls.consoles.broker('rescue').sessions > 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.is(fx.controls.consoles.broker('rescue').sessions, 0, 'the session ends with its stream');
  const gone = await alice.call('POST', '/api/vms/rescue/console/input', { body: { session: s.id, data: 'x' } });
  assert.is(gone.status, 404);
});

test('a second session sees the output and cannot type until it takes over with force; the first is told', async () => {
  const alice = await fresh();
  const bob = await fresh('bob');
  const a = await live(alice, 'rescue');
  assert.is((await alice.call('POST', '/api/vms/rescue/console/keyboard', { body: { session: a.id } })).status, 200);
  const b = await live(bob, 'rescue');
  assert.equal(b.first, { id: b.id, vm: 'rescue', writer: false, holder: 'alice' });
  await alice.call('POST', '/api/vms/rescue/console/input', { body: { session: a.id, data: 'echo from-alice\r' } });
  await b.until(() => b.text().includes('from-alice\r\n# '), "bob sees alice's output");
  assert.is(
    (await bob.call('POST', '/api/vms/rescue/console/input', { body: { session: b.id, data: 'reboot\r' } })).status,
    409,
  );
  const refused = await bob.call('POST', '/api/vms/rescue/console/keyboard', { body: { session: b.id } });
  assert.equal(
    [refused.status, (refused.json as ApiError).error],
    [409, 'alice has the keyboard of rescue; take it over with force'],
  );
  const taken = await bob.call('POST', '/api/vms/rescue/console/keyboard', { body: { session: b.id, force: true } });
  assert.equal(taken.json, { writer: true, holder: 'bob' });
  await a.until(() => a.keyboard.some((k) => k.takenBy === 'bob' && k.writer === false), 'alice is told');
  assert.is(
    (await alice.call('POST', '/api/vms/rescue/console/input', { body: { session: a.id, data: 'x' } })).status,
    409,
  );
  assert.is(
    (await bob.call('POST', '/api/vms/rescue/console/input', { body: { session: b.id, data: 'echo from-bob\r' } }))
      .status,
    200,
  );
  await a.until(() => a.text().includes('from-bob\r\n# '), "alice sees bob's output");
  assert.not.ok(fx.controls.consoles.sent('rescue').includes('reboot'));
  a.close();
  b.close();
});

test("abuse: no session, no CSRF token, another login's or another VM's session, too much at once, a flood", async () => {
  const alice = await fresh();
  const bob = await fresh('bob');
  const a = await live(alice, 'rescue');
  await alice.call('POST', '/api/vms/rescue/console/keyboard', { body: { session: a.id } });
  const before = fx.controls.consoles.sent('rescue').length;
  const anonymous = await call(fx.url, 'POST', '/api/vms/rescue/console/input', { body: { session: a.id, data: 'x' } });
  assert.is(anonymous.status, 401);
  const noCsrf = await call(fx.url, 'POST', '/api/vms/rescue/console/input', {
    body: { session: a.id, data: 'x' },
    headers: { cookie: alice.cookie },
  });
  assert.is(noCsrf.status, 403);
  const otherLogin = await bob.call('POST', '/api/vms/rescue/console/input', { body: { session: a.id, data: 'x' } });
  assert.is(otherLogin.status, 404, 'a session id is only good for the login that opened it');
  const otherVm = await alice.call('POST', '/api/vms/web/console/input', { body: { session: a.id, data: 'x' } });
  assert.is(otherVm.status, 404, 'a session of one VM cannot type into another');
  const big = await alice.call('POST', '/api/vms/rescue/console/input', {
    body: { session: a.id, data: 'y'.repeat(4097) },
  });
  assert.is(big.status, 413);
  assert.is(
    (await alice.call('POST', '/api/vms/rescue/console/input', { body: { session: a.id, data: 12 } })).status,
    400,
  );
  assert.is(fx.controls.consoles.sent('rescue').length, before, 'none of it reached the guest');
  let status = 200;
  let accepted = 0;
  for (let i = 0; i < 64 && status === 200; i++) {
    status = (
      await alice.call('POST', '/api/vms/rescue/console/input', { body: { session: a.id, data: 'z'.repeat(4096) } })
    ).status;
    if (status === 200) accepted += 4096;
  }
  assert.is(status, 429, 'a flood is cut off');
  assert.ok(accepted <= 64 * 1024 + 4096, `accepted ${accepted}`);
  a.close();
});

test('audit: sessions, keyboard and takeovers with who and which VM; no keystrokes, no line per input', async () => {
  await new Promise((r) => setTimeout(r, 50));
  const lines = (await readFile(fx.api.audit.file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const consoles = lines.filter((l) => String(l.action).startsWith('console-'));
  const seen = new Set(consoles.map((l) => `${l.who} ${l.action} ${l.result} ${l.target}`));
  for (const want of [
    'alice console-open ok rescue',
    'alice console-keyboard ok rescue',
    'bob console-keyboard refused rescue',
    'bob console-takeover ok rescue',
    'bob console-close ok rescue',
  ])
    assert.ok(seen.has(want), `${want} in ${[...seen].join(', ')}`);
  assert.ok(consoles.every((l) => l.source === '127.0.0.1' && typeof l.time === 'string'));
  assert.not.ok(
    lines.some((l) => String(l.action).includes('/console/input')),
    'input is not audited request by request',
  );
  const text = await readFile(fx.api.audit.file, 'utf8');
  assert.not.ok(text.includes('from-alice') || text.includes('über'), 'no keystrokes');
});

test('on the unix socket root gets the same console without a login', async () => {
  const s = await live({ socketPath: fx.socket }, 'rescue');
  const took = await call(fx.socket, 'POST', '/api/vms/rescue/console/keyboard', {
    body: { session: s.id, force: true },
  });
  assert.equal(took.json, { writer: true, holder: 'root' });
  assert.is(
    (await call(fx.socket, 'POST', '/api/vms/rescue/console/input', { body: { session: s.id, data: '\recho root\r' } }))
      .status,
    200,
  );
  await s.until(() => s.text().includes('root\r\n# '), 'root types');
  s.close();
});

test.after(() => fx.close());
test.run();
