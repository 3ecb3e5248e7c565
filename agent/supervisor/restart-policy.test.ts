import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeRestart, describeWindow, judgeFailure, startsWithAgent } from './restart-policy.ts';

const rule = { attempts: 2, backoffSeconds: 5, windowSeconds: 600 };
const at = (seconds: number): Date => new Date(Date.UTC(2026, 0, 1) + seconds * 1000);

test('failures within the window count whether the VM came up in between or not; the third of 2 attempts falls back', () => {
  const first = judgeFailure(rule, [], at(0));
  assert.equal(first, { restart: true, delaySeconds: 5, failures: 1, recent: [at(0).toISOString()] });
  const second = judgeFailure(rule, first.recent, at(120));
  assert.ok(second.restart);
  assert.is(second.restart && second.delaySeconds, 10);
  const third = judgeFailure(rule, second.recent, at(300));
  assert.is(third.restart, false);
  assert.is(!third.restart && third.rule, '3 failures in 10 min (restart.attempts 2)');
});

test('failures older than the window are forgotten: a VM up longer than the window starts afresh', () => {
  const earlier = [at(0).toISOString(), at(60).toISOString()];
  const verdict = judgeFailure(rule, earlier, at(620));
  assert.ok(verdict.restart);
  assert.is(verdict.failures, 2, 'the one at 0 s fell out; 60 s and now remain');
  const much = judgeFailure(rule, earlier, at(5000));
  assert.equal(much.recent, [at(5000).toISOString()]);
});

test('the rescue VM always restarts, with the back-off capped', () => {
  const recent = Array.from({ length: 9 }, (_, i) => at(i).toISOString());
  const verdict = judgeFailure(rule, recent, at(10), true);
  assert.ok(verdict.restart);
  assert.is(verdict.restart && verdict.delaySeconds, 60);
});

test('windows read as people say them', () => {
  assert.is(describeWindow(600), '10 min');
  assert.is(describeWindow(7200), '2 h');
  assert.is(describeWindow(45), '45 s');
});

test('a scheduled restart says when and which failure of how many; rescue, restarted always, says no limit', () => {
  assert.is(describeRestart(rule, { delaySeconds: 10, failures: 2 }), 'in 10 s (failure 2 of 3 in 10 min)');
  assert.is(describeRestart(rule, { delaySeconds: 60, failures: 9 }, true), 'in 60 s (failure 9)');
});

test('at agent start: the controller unless on rescue, autostart VMs, and rescue only while on rescue', () => {
  assert.ok(startsWithAgent({ role: 'controller', autostart: false }, false));
  assert.not.ok(startsWithAgent({ role: 'controller', autostart: true }, true));
  assert.ok(startsWithAgent({ role: 'rescue', autostart: false }, true));
  assert.not.ok(startsWithAgent({ role: 'rescue', autostart: false }, false));
  assert.ok(startsWithAgent({ role: 'application', autostart: true }, true));
  assert.not.ok(startsWithAgent({ role: 'application', autostart: false }, true));
});

test.run();
