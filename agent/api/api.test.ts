// The API over TCP and the unix socket: every route with and without a session, login abuse, CSRF, rate limits, audit,
// streams.

import { readFile, stat } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ApiAnswers, ApiError } from '../../common/api-types.ts';
import { writeSelfSigned } from '../../common/self-signed.test-support.ts';
import { FakeControls } from '../fake-controls.test-support.ts';
import { type Client, call, login, startFixture } from './fixture.test-support.ts';
import { apiRoutes } from './server.ts';

let clock = Date.now();
// Every login needs a code of a new 30 s step (codes are accepted once), so the verifier reads this clock.
const fx = await startFixture({ otp: { now: () => clock } });
const code = (user: string) => fx.code(user, clock);
const nextStep = () => (clock += 30_000);

async function fresh(user = 'alice'): Promise<Client> {
  nextStep();
  return login(fx, user, await code(user));
}

async function auditLines(): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(fx.api.audit.file, 'utf8').catch(() => '');
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

// One request per route, valid with a session; run in table order (later rows rely on earlier ones: rollback frees
// controller-1).
const SAMPLES: Record<string, { path: string; body?: unknown; status: number; type?: string }> = {
  'GET /status': { path: '/status', status: 200 },
  'GET /api/host': { path: '/api/host', status: 200 },
  'GET /api/vms': { path: '/api/vms', status: 200 },
  'GET /api/vms/{name}': { path: '/api/vms/web', status: 200 },
  'POST /api/vms/{name}/start': { path: '/api/vms/rescue/start', status: 200 },
  'POST /api/vms/{name}/stop': { path: '/api/vms/web/stop', status: 200 },
  'POST /api/vms/{name}/restart': { path: '/api/vms/controller/restart', status: 200 },
  'GET /api/vms/{name}/console': { path: '/api/vms/controller/console?tail=16', status: 200, type: 'text/plain' },
  'GET /api/vms/{name}/console/stream': {
    path: '/api/vms/controller/console/stream',
    status: 200,
    type: 'text/event-stream',
  },
  'GET /api/vms/{name}/console/live': {
    path: '/api/vms/controller/console/live',
    status: 200,
    type: 'text/event-stream',
  },
  'POST /api/vms/{name}/console/keyboard': {
    path: '/api/vms/controller/console/keyboard',
    body: { session: 'none' },
    status: 404,
  },
  'POST /api/vms/{name}/console/input': {
    path: '/api/vms/controller/console/input',
    body: { session: 'none', data: 'x' },
    status: 404,
  },
  'GET /api/vms/{name}/checkpoints': { path: '/api/vms/web/checkpoints', status: 200 },
  'POST /api/vms/{name}/checkpoints': {
    path: '/api/vms/controller/checkpoints',
    body: { label: 'before upgrade' },
    status: 201,
  },
  'POST /api/vms/{name}/checkpoints/{id}/rollback': {
    path: '/api/vms/controller/checkpoints/controller-base/rollback',
    body: { restart: true },
    status: 200,
  },
  'POST /api/vms/{name}/checkpoints/{id}/pin': {
    path: '/api/vms/web/checkpoints/web-base/pin',
    body: { pinned: false },
    status: 200,
  },
  'DELETE /api/vms/{name}/checkpoints/{id}': { path: '/api/vms/controller/checkpoints/controller-1', status: 200 },
  'POST /api/containers': {
    path: '/api/containers',
    body: { name: 'job', image: '/srv/images/job.tar', cmd: ['echo', 'hi'] },
    status: 201,
  },
  'GET /api/networks': { path: '/api/networks', status: 200 },
  'POST /api/networks/{name}/restart': { path: '/api/networks/private/restart', status: 200 },
  'GET /api/vms/{name}/net': { path: '/api/vms/web/net', status: 200 },
  'POST /api/vms/{name}/rules': {
    path: '/api/vms/web/rules',
    body: { rules: [{ action: 'deny', proto: 'tcp', ports: [25, 25] }] },
    status: 200,
  },
  'GET /api/onion': { path: '/api/onion', status: 200 },
  'POST /api/onion/clients': {
    path: '/api/onion/clients',
    body: { name: 'laptop', publicKey: 'QUQPACMJGCTVI5ELPXOLIPXXLIG36OQNEY4BV5HLUSUY5KU3JZVA' },
    status: 200,
  },
  'DELETE /api/onion/clients/{name}': { path: '/api/onion/clients/laptop', status: 200 },
  // This fixture has no update service (agent/api/update-routes.test.ts has one).
  'GET /api/update': { path: '/api/update', status: 200 },
  'POST /api/update': { path: '/api/update?reboot=no', status: 404 },
  'POST /api/update/rollback': { path: '/api/update/rollback?reboot=no', status: 404 },
  // Nor a vault (agent/api/vault-routes.test.ts has one).
  'GET /api/vault': { path: '/api/vault', status: 200 },
  'POST /api/vault': { path: '/api/vault', body: { passphrase: 'a long passphrase' }, status: 404 },
  'POST /api/vault/unlock': { path: '/api/vault/unlock', body: { passphrase: 'a long passphrase' }, status: 404 },
  'POST /api/vault/lock': { path: '/api/vault/lock', status: 404 },
  'POST /api/vault/passphrase': {
    path: '/api/vault/passphrase',
    body: { current: 'a long passphrase', passphrase: 'another long one' },
    status: 404,
  },
  'POST /api/vault/entries': {
    path: '/api/vault/entries',
    body: { name: 'x', kind: 'password', secret: 'y' },
    status: 404,
  },
  'DELETE /api/vault/entries/{entry}': { path: '/api/vault/entries/x', status: 404 },
  'GET /api/vault/entries/{entry}/code': { path: '/api/vault/entries/x/code', status: 404 },
  'GET /api/vault/entries/{entry}/public-key': { path: '/api/vault/entries/x/public-key', status: 404 },
  'POST /api/vault/ssh-cert': { path: '/api/vault/ssh-cert', body: { publicKey: 'ssh-ed25519 AAAA' }, status: 404 },
  'GET /api/rescue': { path: '/api/rescue', status: 200 },
  'POST /api/rescue': { path: '/api/rescue', body: { reason: 'controller disk broken' }, status: 200 },
  'POST /login': { path: '/login', body: {}, status: 400 },
  'POST /logout': { path: '/logout', status: 200 },
  'GET /api/session': { path: '/api/session', status: 200 },
  'GET /': { path: '/', status: 200, type: 'text/html' },
  'GET /login': { path: '/login', status: 200, type: 'text/html' },
  'GET /assets/{file}': { path: '/assets/app.js', status: 200, type: 'text/javascript' },
  'GET /openapi.json': { path: '/openapi.json', status: 200 },
};

const routes = apiRoutes(new FakeControls(), () => ({}) as never, undefined);

test('every route in the table has a sample here (a new route needs its tests)', () => {
  assert.equal(routes.map((r) => `${r.method} ${r.path}`).sort(), Object.keys(SAMPLES).sort());
});

test('without a session, every route but the login page, its assets and POST /login answers 401 and touches nothing', async () => {
  const before = fx.controls.calls.length;
  for (const route of routes) {
    const sample = SAMPLES[`${route.method} ${route.path}`]!;
    const answer = await call(fx.url, route.method, sample.path, { body: sample.body });
    if (route.access === 'public')
      assert.ok(answer.status !== 401, `${route.method} ${sample.path} is public (got ${answer.status})`);
    else assert.is(answer.status, 401, `${route.method} ${sample.path} without a session`);
    if (route.access === 'page')
      assert.match(answer.text, /id="login"/, 'a page without a session shows the login form');
  }
  assert.is(fx.controls.calls.length, before, 'no control was called');
});

test('with a session, every route answers as documented, and each change is audited with its user', async () => {
  for (const route of routes) {
    const sample = SAMPLES[`${route.method} ${route.path}`]!;
    const client = await fresh();
    const answer = await client.call(route.method, sample.path, {
      body: sample.body,
      firstChunk: sample.type === 'text/event-stream',
    });
    assert.is(answer.status, sample.status, `${route.method} ${sample.path}: ${answer.text}`);
    assert.ok(
      String(answer.headers['content-type']).startsWith(sample.type ?? 'application/json'),
      `${route.method} ${sample.path} content type ${answer.headers['content-type']}`,
    );
  }
  const changes = (await auditLines()).filter((l) => l.action !== 'login');
  const audited = changes.map((l) => `${l.action} ${l.result}`);
  // Console input and keyboard are audited by the console broker (sessions, takeovers), not request by request.
  const selfAudited = new Set([
    'POST /login',
    'POST /api/vms/{name}/console/keyboard',
    'POST /api/vms/{name}/console/input',
  ]);
  for (const key of Object.keys(SAMPLES).filter((k) => !k.startsWith('GET') && !selfAudited.has(k)))
    assert.ok(
      audited.includes(`${key} ${SAMPLES[key]!.status < 300 ? 'ok' : 'refused'}`),
      `${key} audited: ${audited.join(', ')}`,
    );
  assert.ok(changes.every((l) => l.who === 'alice' && l.source === '127.0.0.1' && typeof l.time === 'string'));
  const rescue = changes.find((l) => l.action === 'POST /api/rescue')!;
  assert.is(rescue.detail, 'controller disk broken');
  assert.ok(fx.controls.calls.some((c) => c.method === 'rollback' && c.args[1] === 'controller-base'));
});

test('a login sets a 256-bit session id in an HttpOnly, SameSite=Strict cookie with an expiry; not Secure over plain HTTP', async () => {
  nextStep();
  const answer = await call(fx.url, 'POST', '/login', {
    body: { user: 'bob', password: 'tr0ub4dor&3', code: await code('bob') },
  });
  assert.is(answer.status, 200);
  const cookie = String(answer.headers['set-cookie']![0]);
  const id = /^mvos_session=([A-Za-z0-9_-]+);/.exec(cookie)![1]!;
  assert.is(Buffer.from(id, 'base64url').length, 32);
  assert.match(cookie, /; HttpOnly/);
  assert.match(cookie, /; SameSite=Strict/);
  assert.match(cookie, /; Max-Age=43200/);
  assert.not.match(cookie, /Secure/);
  const { user, csrf } = answer.json as ApiAnswers['POST /login'];
  assert.is(user, 'bob');
  assert.is(Buffer.from(csrf, 'base64url').length, 32);
});

test('a wrong password, a wrong code, a reused code, an unknown user and a user without a code are refused alike', async () => {
  nextStep();
  const good = await code('alice');
  const attempt = (user: string, password: string, c: string) =>
    call(fx.url, 'POST', '/login', { body: { user, password, code: c } });
  const wrongPassword = await attempt('alice', 'wrong', good);
  const wrongCode = await attempt('alice', 'correct horse battery staple', good === '000000' ? '111111' : '000000');
  const ok = await attempt('alice', 'correct horse battery staple', good);
  const reused = await attempt('alice', 'correct horse battery staple', good);
  const unknown = await attempt('mallory', 'x', good);
  const noCode = await attempt('carol', 'no code for me', good);
  assert.is(ok.status, 200);
  for (const refused of [wrongPassword, wrongCode, reused, unknown, noCode]) {
    assert.is(refused.status, 401);
    assert.equal(refused.json, { error: 'wrong user, password or code' });
    assert.is(refused.headers['set-cookie'], undefined);
  }
  const reasons = (await auditLines())
    .filter((l) => l.action === 'login' && l.result === 'refused')
    .map((l) => `${l.who}:${l.reason}`);
  for (const want of [
    'alice:wrong-password',
    'alice:wrong-code',
    'alice:replayed',
    'mallory:unknown-user',
    'carol:no-otp',
  ])
    assert.ok(reasons.includes(want), `${want} in ${reasons.join(', ')}`);
  assert.not.match(
    await readFile(fx.api.audit.file, 'utf8'),
    new RegExp(`correct horse|${good}`),
    'no password or code in the audit log',
  );
});

test('a change without the CSRF token, with a wrong one, or from another origin is refused and does nothing', async () => {
  const client = await fresh('bob');
  const before = fx.controls.calls.length;
  const noToken = await call(fx.url, 'POST', '/api/vms/web/start', { headers: { cookie: client.cookie } });
  const wrongToken = await call(fx.url, 'POST', '/api/vms/web/start', {
    headers: { cookie: client.cookie, 'x-csrf-token': 'x'.repeat(43) },
  });
  const foreign = await client.call('POST', '/api/vms/web/start', { headers: { origin: 'http://evil.example' } });
  const crossSite = await client.call('DELETE', '/api/vms/web/checkpoints/web-base', {
    headers: { 'sec-fetch-site': 'cross-site' },
  });
  for (const refused of [noToken, wrongToken, foreign, crossSite]) assert.is(refused.status, 403, refused.text);
  assert.match((noToken.json as ApiError).error, /x-csrf-token/);
  assert.is(fx.controls.calls.length, before, 'nothing was called');
  const sameOrigin = await client.call('GET', '/api/vms', { headers: { origin: fx.url } });
  assert.is(sameOrigin.status, 200, 'reads need no token');
  nextStep();
  const loginFromElsewhere = await call(fx.url, 'POST', '/login', {
    body: { user: 'bob', password: 'tr0ub4dor&3', code: await code('bob') },
    headers: { origin: 'http://evil.example' },
  });
  assert.is(loginFromElsewhere.status, 403, 'login CSRF is refused too');
});

test('failed logins engage the rate limit per user and per source; then even the right credentials wait (429, Retry-After)', async () => {
  const limitedFx = await startFixture({ lockout: { freeFailures: 3, baseDelayMs: 60_000 } });
  try {
    const bad = () =>
      call(limitedFx.url, 'POST', '/login', { body: { user: 'bob', password: 'guess', code: '123456' } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await bad()).status);
    assert.equal(statuses, [401, 401, 401, 401]);
    const limited = await call(limitedFx.url, 'POST', '/login', {
      body: { user: 'bob', password: 'tr0ub4dor&3', code: await limitedFx.code('bob') },
    });
    assert.is(limited.status, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 59, `Retry-After ${limited.headers['retry-after']}`);
    const sameSource = await call(limitedFx.url, 'POST', '/login', {
      body: { user: 'alice', password: 'correct horse battery staple', code: await limitedFx.code('alice') },
    });
    assert.is(sameSource.status, 429, 'the source is limited too, whatever user it tries');
    const audit = (await readFile(limitedFx.api.audit.file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.is(audit.filter((l) => l.action === 'login' && l.reason === 'rate-limited').length, 2);
  } finally {
    await limitedFx.close();
  }
});

test('ControlError kinds map to 404, 409 and 400 with a JSON error; bad input is 400', async () => {
  const fx2 = await startFixture();
  try {
    const client = await login(fx2, 'alice');
    const missing = await client.call('POST', '/api/vms/nope/start');
    const conflict = await client.call('POST', '/api/vms/controller/start');
    const invalid = await client.call('POST', '/api/vms/web/checkpoints/web-base/pin', { body: { pinned: 'yes' } });
    const noReason = await client.call('POST', '/api/rescue', { body: { reason: ' ' } });
    const badTail = await client.call('GET', '/api/vms/web/console?tail=-1');
    const notJson = await client.call('POST', '/api/vms/web/checkpoints', {
      body: 'label',
      headers: { 'content-type': 'text/plain' },
    });
    const notObject = await client.call('POST', '/api/vms/web/checkpoints', { body: ['label'] });
    const wrongMethod = await client.call('DELETE', '/api/vms');
    assert.is(missing.status, 404);
    assert.match((missing.json as ApiError).error, /no VM named "nope"/);
    assert.is(conflict.status, 409);
    assert.match((conflict.json as ApiError).error, /controller is ready/);
    assert.is(invalid.status, 400);
    assert.is(noReason.status, 400);
    assert.is(badTail.status, 400);
    assert.is(notJson.status, 415);
    assert.is(notObject.status, 400);
    assert.is(wrongMethod.status, 405);
    assert.is(wrongMethod.headers.allow, 'GET');
    const refused = (await readFile(fx2.api.audit.file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.action === 'POST /api/vms/{name}/start' && l.target === 'controller');
    assert.is(refused.result, 'refused');
    assert.match(refused.reason, /controller is ready/);
  } finally {
    await fx2.close();
  }
});

test('logout ends the session: the cookie no longer opens anything', async () => {
  const client = await fresh();
  assert.is((await client.call('POST', '/logout')).status, 200);
  assert.is((await client.call('GET', '/api/vms')).status, 401);
});

test('the console stream sends the backlog, then live output, and lets go of the console when the client leaves', async () => {
  const client = await fresh();
  const received: string[] = [];
  const { request } = await import('node:http');
  const port = Number(new URL(fx.url).port);
  const req = request({
    host: '127.0.0.1',
    port,
    path: '/api/vms/web/console/stream',
    headers: { cookie: client.cookie },
  });
  const events = new Promise<void>((resolve) => {
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) if (line.startsWith('data: ')) received.push(JSON.parse(line.slice(6)));
        if (received.join('').includes('live line')) resolve();
      });
    });
  });
  req.end();
  while (fx.controls.followers('web') === 0) await new Promise((r) => setTimeout(r, 10));
  fx.controls.emitConsole('web', 'live line \u00e9\n');
  await events;
  assert.ok(received[0]!.length > 0, 'backlog first');
  assert.ok(received.join('').endsWith('live line \u00e9\n'));
  req.destroy();
  for (let i = 0; i < 100 && fx.controls.followers('web') > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.is(fx.controls.followers('web'), 0);
});

test('the unix socket is mode 0600 and serves root without a login; POST /login there explains itself', async () => {
  const mode = (await stat(fx.socket)).mode & 0o777;
  assert.is(mode.toString(8), '600');
  const vms = await call(fx.socket, 'GET', '/api/vms');
  assert.is(vms.status, 200);
  assert.ok((vms.json as ApiAnswers['GET /api/vms']).some((vm) => vm.name === 'controller'));
  const started = await call(fx.socket, 'POST', '/api/vms/web/restart');
  assert.is(started.status, 200);
  const line = (await auditLines()).find((l) => l.action === 'POST /api/vms/{name}/restart' && l.who === 'root');
  assert.is(line?.source, 'unix-socket');
  assert.is((await call(fx.socket, 'POST', '/login', { body: { user: 'a', password: 'b', code: 'c' } })).status, 400);
});

test('pages carry a strict CSP and no caching; unknown paths and assets are JSON 404s', async () => {
  const page = await call(fx.url, 'GET', '/login');
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  assert.is(page.headers['cache-control'], 'no-store');
  assert.is(page.headers['x-frame-options'], 'DENY');
  assert.is((await call(fx.url, 'GET', '/assets/..%2Fserver.ts')).status, 404);
  assert.is((await call(fx.url, 'GET', '/assets/constructor')).status, 404);
  const unknown = await call(fx.url, 'GET', '/nothing/here');
  assert.is(unknown.status, 404);
  assert.match((unknown.json as ApiError).error, /no such endpoint/);
});

test('over TLS the session cookie is Secure and the expected origin is https', async () => {
  const dir = fx.dir;
  writeSelfSigned({ key: join(dir, 'tls.key'), cert: join(dir, 'tls.crt') }, '/CN=127.0.0.1', 'IP:127.0.0.1');
  const [key, cert] = await Promise.all([readFile(join(dir, 'tls.key')), readFile(join(dir, 'tls.crt'))]);
  const tlsFx = await startFixture({ tls: { key, cert } });
  try {
    assert.match(tlsFx.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const post = (headers: Record<string, string>) =>
      new Promise<{ status: number; cookie?: string }>((resolve, reject) => {
        const url = new URL(tlsFx.url);
        const body = JSON.stringify({ user: 'alice', password: 'correct horse battery staple', code: headers.code });
        const req = httpsRequest(
          {
            host: url.hostname,
            port: url.port,
            path: '/login',
            method: 'POST',
            ca: cert,
            headers: { 'content-type': 'application/json', ...(headers.origin ? { origin: headers.origin } : {}) },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode!, cookie: res.headers['set-cookie']?.[0] }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const code = await tlsFx.code('alice');
    assert.is(
      (await post({ code, origin: tlsFx.url.replace('https', 'http') })).status,
      403,
      'the http origin is another origin',
    );
    const ok = await post({ code, origin: tlsFx.url });
    assert.is(ok.status, 200);
    assert.match(ok.cookie!, /; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
  } finally {
    await tlsFx.close();
  }
});

test.after(() => fx.close());
test.run();
