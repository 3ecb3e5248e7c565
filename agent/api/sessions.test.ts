// Sessions end when idle, at their absolute age, on logout, and the oldest go first when too many are open.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readCookie, SessionStore, sameSecret, sessionCookie } from './sessions.ts';

test('a session lives while used, ends after the idle time, and ends at its absolute age however busy', () => {
  let now = 0;
  const store = new SessionStore({ idleMs: 1000, maxAgeMs: 5000 }, () => now);
  const busy = store.create('alice');
  const idle = store.create('bob');
  for (now = 900; now <= 4900; now += 900) assert.ok(store.get(busy.id), `busy at ${now}`);
  assert.is(store.get(idle.id), undefined, 'idle one expired');
  now = 5100;
  assert.is(store.get(busy.id), undefined, 'busy one expired at max age');
});

test('ids and CSRF tokens are 256 random bits each, distinct; unknown or empty ids find nothing; logout removes', () => {
  const store = new SessionStore();
  const a = store.create('alice');
  const b = store.create('alice');
  for (const s of [a, b]) {
    assert.is(Buffer.from(s.id, 'base64url').length, 32);
    assert.is(Buffer.from(s.csrf, 'base64url').length, 32);
  }
  assert.is.not(a.id, b.id);
  assert.is.not(a.id, a.csrf);
  assert.is(store.get(undefined), undefined);
  assert.is(store.get(''), undefined);
  assert.is(store.get(a.csrf), undefined, 'the CSRF token is not a session id');
  store.delete(a.id);
  assert.is(store.get(a.id), undefined);
  assert.ok(store.get(b.id));
});

test('past maxSessions the oldest session is dropped', () => {
  const store = new SessionStore({ maxSessions: 2 });
  const [first, second, third] = [store.create('a'), store.create('b'), store.create('c')];
  assert.is(store.get(first.id), undefined);
  assert.ok(store.get(second.id) && store.get(third.id));
});

test('cookies: read among others, written HttpOnly SameSite=Strict, Secure only when asked', () => {
  assert.is(readCookie('a=1; mvos_session=xyz; b=2', 'mvos_session'), 'xyz');
  assert.is(readCookie('mvos_sessionx=1', 'mvos_session'), undefined);
  assert.is(readCookie(undefined, 'mvos_session'), undefined);
  assert.is(sessionCookie('id', 60, false), 'mvos_session=id; Path=/; HttpOnly; SameSite=Strict; Max-Age=60');
  assert.match(sessionCookie('id', 60, true), /; Secure$/);
  assert.ok(sameSecret('abc', 'abc'));
  assert.not.ok(sameSecret('abc', 'abd'));
  assert.not.ok(sameSecret('abc', 'abcd'));
});

test.run();
