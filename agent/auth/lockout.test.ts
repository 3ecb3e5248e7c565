import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Lockout } from './lockout.ts';

const policy = {
  freeFailures: 2,
  baseDelayMs: 1000,
  maxDelayMs: 4000,
  lockAfter: 6,
  lockMs: 60_000,
  forgetMs: 120_000,
};

test('free failures, then doubling back-off, then a lock-out that expires', () => {
  let now = 0;
  const lockout = new Lockout(policy, () => now);
  const keys = ['user:alice', 'source:10.0.0.1'];
  lockout.fail(keys);
  lockout.fail(keys);
  assert.equal(lockout.check(keys), { allowed: true, retryAfterMs: 0, locked: false });
  const waits = [1000, 2000, 4000];
  for (const wait of waits) {
    lockout.fail(keys);
    assert.equal(lockout.check(keys), { allowed: false, retryAfterMs: wait, locked: false });
    now += wait;
    assert.ok(lockout.check(keys).allowed);
  }
  lockout.fail(keys);
  assert.equal(lockout.check(keys), { allowed: false, retryAfterMs: 60_000, locked: true });
  now += 59_999;
  assert.equal(lockout.check(['user:alice']), { allowed: false, retryAfterMs: 1, locked: true });
  now += 1;
  assert.equal(lockout.check(keys), { allowed: true, retryAfterMs: 0, locked: false });
  lockout.fail(keys);
  assert.ok(lockout.check(keys).allowed, 'a finished lock-out starts the count afresh');
});

test('keys are independent and the worst one decides; success clears; old failures are forgotten', () => {
  let now = 0;
  const lockout = new Lockout(policy, () => now);
  for (let i = 0; i < 3; i++) lockout.fail(['source:10.0.0.1']);
  assert.not.ok(lockout.check(['user:bob', 'source:10.0.0.1']).allowed);
  assert.ok(lockout.check(['user:bob', 'source:10.0.0.2']).allowed);
  lockout.succeed(['source:10.0.0.1']);
  assert.ok(lockout.check(['source:10.0.0.1']).allowed);
  lockout.fail(['user:carol']);
  lockout.fail(['user:carol']);
  now += 120_000;
  lockout.fail(['user:carol']);
  assert.ok(lockout.check(['user:carol']).allowed, 'the two old failures were forgotten');
});

test('a flood of sources keeps at most maxKeys entries', () => {
  const lockout = new Lockout({ ...policy, maxKeys: 100 }, () => 0);
  for (let i = 0; i < 1000; i++) lockout.fail([`source:${i}`]);
  assert.ok(lockout.check(['source:999']).allowed, 'one failure costs nothing');
  for (let i = 0; i < 3; i++) lockout.fail(['source:999']);
  assert.not.ok(lockout.check(['source:999']).allowed);
  assert.ok((lockout as unknown as { entries: Map<string, unknown> }).entries.size <= 100);
});

test('reserve counts the attempt before it runs: parallel attempts stop at the lock count; success clears', () => {
  const lockout = new Lockout({ ...policy, freeFailures: 10, lockAfter: 10 }, () => 0);
  const keys = ['user:alice', 'source:10.0.0.1'];
  const verdicts = Array.from({ length: 200 }, () => lockout.reserve(keys));
  assert.is(
    verdicts.filter((v) => v.allowed).length,
    10,
    'no verification has finished yet, and still only 10 may run',
  );
  assert.ok(verdicts.slice(10).every((v) => !v.allowed && v.locked));
  const other = ['user:bob', 'source:10.0.0.2'];
  assert.ok(lockout.reserve(other).allowed);
  lockout.succeed(other);
  assert.equal(
    lockout.check(other),
    { allowed: true, retryAfterMs: 0, locked: false },
    'a success refunds the reservation',
  );
  for (let i = 0; i < 9; i++) assert.ok(lockout.reserve(other).allowed, `attempt ${i + 2} after the success`);
});

test.run();
