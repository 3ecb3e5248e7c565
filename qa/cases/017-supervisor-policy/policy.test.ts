// Supervisor policy with the real agent and the host image's own controller and rescue (one level of TCG):
// a controller that comes up and then keeps dying still ends in rescue (failures counted in a window, ready or not);
// one killed once and left alone past the window is only restarted; a QEMU stopped with SIGSTOP is failed as hung by
// QMP liveness within its timeout; a guest frozen while QEMU answers is still caught by its heartbeat.

import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VmView } from '../../../agent/controls.ts';
import {
  type AgentRun,
  ControllerScenario,
  consoleCommand,
  hostRoot,
  type ScenarioConfig,
  type ScenarioVm,
} from '../../lib/agent-run.ts';
import { ARTIFACTS } from '../../lib/boot.ts';

const BOOT_S = 240;
let scenario: ControllerScenario;
const configWith = (change: (controller: ScenarioVm) => void) => scenario.configWith(change);
const startAgent = (name: string, config: ScenarioConfig) => scenario.start(name, config);
const finish = (run: AgentRun) => scenario.finish(run);

// Waits for the controller's next `ready` after `after` events of that kind, and returns it.
async function nextReady(run: AgentRun, readiesBefore: number): Promise<VmView> {
  return run.waitForVm(
    'controller',
    (vm) => vm.state === 'ready' && vm.history.filter((e) => e.event === 'ready').length > readiesBefore,
    BOOT_S * 1000,
    `ready for the ${readiesBefore + 1}. time`,
  );
}

test.before(async () => {
  scenario = new ControllerScenario(await hostRoot(), join(ARTIFACTS, '017-policy'));
});

test.after(() => scenario.finishAll());

test('a controller killed each time it reaches ready falls back to rescue after its count, with the window rule as the reason', async () => {
  const run = await startAgent(
    'crash-loop',
    configWith((c) => (c.restart = { attempts: 2, backoffSeconds: 1, windowSeconds: 600 })),
  );
  for (let kill = 0; kill < 3; kill++) {
    const vm = await nextReady(run, kill);
    process.kill(vm.pid!, 'SIGKILL');
  }
  const rescue = await run.waitForVm('rescue', (vm) => vm.state === 'ready', BOOT_S * 1000, 'rescue ready');
  const controller = await run.vm('controller');
  assert.is(controller.state, 'failed');
  assert.is(
    controller.history.filter((e) => e.event === 'ready').length,
    3,
    'it came up three times before the fallback',
  );
  const status = await run.status();
  assert.ok(status.rescue.active);
  assert.match(status.rescue.reason ?? '', /3 failures in 10 min \(restart\.attempts 2\); last: .*exited unexpectedly/);
  assert.ok(controller.history.some((e) => e.event === 'gave up' && /3 failures in 10 min/.test(e.detail ?? '')));
  assert.ok(rescue.readyAt);
  await finish(run);
});

test('a controller killed once and then left alone past its window is only restarted', async () => {
  const run = await startAgent(
    'window-passes',
    configWith((c) => (c.restart = { attempts: 1, backoffSeconds: 1, windowSeconds: 20 })),
  );
  process.kill((await nextReady(run, 0)).pid!, 'SIGKILL');
  const second = await nextReady(run, 1);
  // Up longer than the window since the first failure: that one no longer counts.
  const firstFailure = Date.parse((await run.vm('controller')).failure!.at);
  await sleep(Math.max(0, firstFailure + 21_000 - Date.now()));
  process.kill(second.pid!, 'SIGKILL');
  const third = await nextReady(run, 2);
  assert.is(third.history.filter((e) => e.event === 'fallback').length, 0, 'no fallback');
  assert.match(
    third.history.filter((e) => e.event === 'restart scheduled').at(-1)?.detail ?? '',
    /failure 1 of 2 in 20 s/,
  );
  assert.not.ok((await run.status()).rescue.active, 'the host is not on rescue');
  assert.not.ok((await run.vm('rescue')).pid, 'rescue never started');
  await finish(run);
});

test('a QEMU stopped with SIGSTOP (guest and QMP both silent) is failed as hung within its configured timeout', async () => {
  const run = await startAgent(
    'qemu-stopped',
    configWith((c) => {
      c.restart = { attempts: 0, backoffSeconds: 1, windowSeconds: 600 };
      c.health = { ...c.health, hangSeconds: 5, heartbeatSeconds: 60 };
    }),
  );
  const vm = await nextReady(run, 0);
  const stoppedAt = Date.now();
  process.kill(vm.pid!, 'SIGSTOP');
  const failed = await run.waitForVm('controller', (v) => v.state === 'failed', 60_000, 'failed');
  const took = (Date.parse(failed.failure!.at) - stoppedAt) / 1000;
  assert.match(failed.failure!.reason, /QEMU stopped answering: no reply to a QMP status query within 5 s/);
  // The query interval (a third of the timeout) plus the timeout itself, with a margin for a loaded machine.
  assert.ok(took <= 5 + 2 + 3, `caught ${took.toFixed(1)} s after SIGSTOP`);
  console.log(`  SIGSTOP'd QEMU failed as hung ${took.toFixed(1)} s after the stop (hang timeout 5 s)`);
  await run.waitForVm('rescue', (v) => v.state === 'ready', BOOT_S * 1000, 'rescue ready');
  await finish(run);
});

test('a guest frozen while QEMU answers is still caught by its missing heartbeat', async () => {
  const run = await startAgent(
    'guest-frozen',
    configWith((c) => {
      c.restart = { attempts: 0, backoffSeconds: 1, windowSeconds: 600 };
      c.health = { ...c.health, hangSeconds: 5, heartbeatSeconds: 12 };
    }),
  );
  await nextReady(run, 0);
  // Let the heartbeat begin, then stop every guest process but init's shell (the heartbeat loop among them).
  await sleep(7000);
  await consoleCommand(run.stateDir, 'controller', 'kill -STOP -1; echo FROZE=$((1+1))', /FROZE=2/);
  const failed = await run.waitForVm('controller', (v) => v.state === 'failed', 90_000, 'failed');
  assert.match(failed.failure!.reason, /the guest stopped answering: no heartbeat on its health channel for 12 s/);
  await finish(run);
});

test.run();
