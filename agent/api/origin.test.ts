// DNS rebinding: Host and Origin must name this listener (its address, a configured name, localhost on loopback), never
// just each other.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ApiError } from '../../common/api-types.ts';
import { call, type Fixture, startFixture } from './fixture.test-support.ts';

async function loginWith(fx: Fixture, user: string, headers: Record<string, string>) {
  const password = fx.users.find((u) => u.name === user)!.password;
  return call(fx.url, 'POST', '/login', { body: { user, password, code: await fx.code(user) }, headers });
}

test("an Origin equal to a rebinding Host header is refused; the listener's address and localhost are accepted", async () => {
  const fx = await startFixture();
  try {
    const port = new URL(fx.url).port;
    const rebound = await loginWith(fx, 'alice', {
      host: `evil.example:${port}`,
      origin: `http://evil.example:${port}`,
    });
    assert.is(rebound.status, 403, rebound.text);
    assert.match((rebound.json as ApiError).error, /Host/);
    assert.is(
      (await call(fx.url, 'GET', '/login', { headers: { host: `evil.example:${port}` } })).status,
      403,
      'reads under a rebinding name are refused too',
    );
    assert.is((await loginWith(fx, 'alice', { origin: `http://127.0.0.1:${port}` })).status, 200);
    assert.is(
      (await loginWith(fx, 'bob', { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status,
      200,
      'localhost cannot be rebound',
    );
    assert.is(
      (await call(fx.url, 'GET', '/login', { headers: { host: `127.0.0.1:${Number(port) + 1}` } })).status,
      403,
      'another port is another origin',
    );
  } finally {
    await fx.close();
  }
});

test('a configured name is accepted as Host and Origin; a foreign Origin under it is still refused', async () => {
  const fx = await startFixture({ agent: { apiNames: ['agent.test'] } });
  try {
    const port = new URL(fx.url).port;
    const foreign = await loginWith(fx, 'alice', { host: `agent.test:${port}`, origin: `http://evil.example:${port}` });
    assert.is(foreign.status, 403);
    assert.is(
      (await loginWith(fx, 'alice', { host: `AGENT.test:${port}`, origin: `http://agent.test:${port}` })).status,
      200,
      'names compare case-insensitively',
    );
  } finally {
    await fx.close();
  }
});

test('a wildcard listener accepts the address a request came in on, not the name it claims', async () => {
  const fx = await startFixture({ listen: '0.0.0.0:0', agent: { apiInsecure: true } });
  try {
    const port = new URL(fx.url).port;
    const url = `http://127.0.0.1:${port}`;
    const password = fx.users[0]!.password;
    const rebound = await call(url, 'POST', '/login', {
      body: { user: 'alice', password, code: await fx.code('alice') },
      headers: { host: `evil.example:${port}`, origin: `http://evil.example:${port}` },
    });
    assert.is(rebound.status, 403);
    const ok = await call(url, 'POST', '/login', {
      body: { user: 'alice', password, code: await fx.code('alice') },
      headers: { origin: url },
    });
    assert.is(ok.status, 200, ok.text);
  } finally {
    await fx.close();
  }
});

test.run();
