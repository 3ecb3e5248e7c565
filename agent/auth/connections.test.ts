import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionLimiter, sourceOf } from './connections.ts';

test('per-source cap, a total cap for the others, and loopback counted apart so the console still gets in', () => {
  const limiter = new ConnectionLimiter({ perSource: 2, maxConnections: 4 });
  const held = ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.2'].map((a) => limiter.admit(a));
  assert.ok(held.every(Boolean));
  assert.is(limiter.admit('10.0.0.1'), undefined, 'the source is at its cap');
  assert.is(limiter.admit('10.0.0.3'), undefined, 'everyone else is at the total cap');
  const local = [limiter.admit('127.0.0.1'), limiter.admit('::ffff:127.0.0.1')];
  assert.ok(local.every(Boolean), 'loopback does not count toward the total');
  assert.is(limiter.admit('::1'), undefined, 'but has a per-source cap of its own (all loopback forms are one source)');
  held[0]!();
  held[0]!();
  assert.ok(limiter.admit('10.0.0.3'), 'a release frees one slot, once');
  assert.is(limiter.admit('10.0.0.4'), undefined);
  assert.equal(limiter.counts(), { total: 4, local: 2, sources: 4 });
});

test('127.0.0.2 and other loopback addresses are ordinary sources unless named local; IPv6 is grouped by /64', () => {
  assert.is(sourceOf('::ffff:10.1.2.3'), '10.1.2.3');
  assert.is(sourceOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.is(sourceOf('2001:db8:1:2:bbbb::9'), '2001:db8:1:2::/64');
  assert.is(sourceOf('::1'), 'local');
  assert.is(sourceOf('127.0.0.1'), 'local');
  assert.is(sourceOf('127.0.0.2'), '127.0.0.2');
  assert.is(sourceOf(undefined), 'unknown');
  const limiter = new ConnectionLimiter({ perSource: 1, maxConnections: 1 });
  assert.ok(limiter.admit('2001:db8:1:2::1'));
  assert.is(limiter.admit('2001:db8:1:2::2'), undefined, 'one /64 is one source');
});

test('the per-source cap never exceeds the total cap', () => {
  const limiter = new ConnectionLimiter({ maxConnections: 2 });
  assert.ok(limiter.admit('127.0.0.1') && limiter.admit('127.0.0.1'));
  assert.is(limiter.admit('127.0.0.1'), undefined);
});

test.run();
