// The agent on this build machine (one level of TCG) runs the host image's own controller and rescue images:
// the controller boots pinned and reports ready; a killed QEMU, a guest panic, a guest that never reports ready and a
// corrupted controller disk each end with the rescue VM up and the reason recorded; an agent killed and restarted loses
// no VM.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { threadAffinity } from '../../../agent/pinning/apply.ts';
import { runTool } from '../../../common/exec.ts';
import { AgentRun, ControllerScenario, hostRoot, type ScenarioConfig, type ScenarioVm } from '../../lib/agent-run.ts';
import { ARTIFACTS } from '../../lib/boot.ts';

const BOOT_S = 240;
let host: Awaited<ReturnType<typeof hostRoot>>;
let scenario: ControllerScenario;

// The image's host config with the controller changed for one case; no restarts, so failure goes straight to rescue.
function configWith(change: (controller: ScenarioVm) => void): ScenarioConfig {
  return scenario.configWith((controller) => {
    controller.restart = { attempts: 0, backoffSeconds: 1, windowSeconds: 600 };
    change(controller);
  });
}

const startAgent = (name: string, config: ScenarioConfig) => scenario.start(name, config);
const finish = (run: AgentRun) => scenario.finish(run);

async function expectRescue(run: AgentRun, reason: RegExp): Promise<void> {
  const controller = await run.waitForVm('controller', (vm) => vm.state === 'failed', BOOT_S * 1000, 'failed');
  assert.match(controller.failure?.reason ?? '', reason);
  assert.ok(
    controller.history.some((e) => e.event === 'fallback'),
    'the fallback is in the history',
  );
  await run.waitForVm('rescue', (vm) => vm.state === 'ready', BOOT_S * 1000, 'came up ready');
  const status = await run.status();
  assert.ok(status.rescue.active, 'status says the host runs on rescue');
  assert.match(status.rescue.reason ?? '', reason);
}

test.before(async () => {
  host = await hostRoot();
  scenario = new ControllerScenario(host, join(ARTIFACTS, '009-agent'));
});

test.after(() => scenario.finishAll());

test('the controller boots, reports ready, and its vCPU threads run where the plan says', async () => {
  const run = await startAgent(
    'ready',
    configWith(() => undefined),
  );
  const vm = await run.waitForVm('controller', (v) => v.state === 'ready', BOOT_S * 1000, 'reported ready');
  assert.ok(vm.pinning, 'the plan is in status');
  for (const v of vm.pinning!.vcpus) {
    assert.ok(v.tid, `vCPU ${v.vcpu} has its thread id`);
    assert.equal(
      await threadAffinity(vm.pid!, v.tid!),
      [v.cpu],
      `vCPU ${v.vcpu} thread ${v.tid} is pinned to CPU ${v.cpu}`,
    );
  }
  assert.equal(
    await threadAffinity(vm.pid!, vm.pid!),
    vm.pinning!.emulator,
    'the main emulator thread is on the housekeeping CPUs',
  );
  assert.match(run.log, /pinning plan: controller: vCPU0→\d/);
  console.log(
    `  controller ready ${((Date.parse(vm.readyAt!) - Date.parse(vm.startedAt!)) / 1000).toFixed(1)} s after launch; plan ${JSON.stringify(vm.pinning!.vcpus)}`,
  );
  await finish(run);
});

test('QEMU killed: rescue comes up, the reason is recorded', async () => {
  const run = await startAgent(
    'killed',
    configWith(() => undefined),
  );
  const vm = await run.waitForVm('controller', (v) => v.state === 'ready', BOOT_S * 1000, 'reported ready');
  process.kill(vm.pid!, 'SIGKILL');
  await expectRescue(run, /exited unexpectedly/);
  await finish(run);
});

test('a QEMU frozen after ready: QMP liveness fails it as hung (before the heartbeat would), rescue comes up', async () => {
  const run = await startAgent(
    'hung',
    configWith(() => undefined),
  );
  const vm = await run.waitForVm('controller', (v) => v.state === 'ready', BOOT_S * 1000, 'reported ready');
  // Give the guest time to start its heartbeat, then freeze the whole QEMU as a wedged guest would look from outside.
  await new Promise((resolve) => setTimeout(resolve, 8000));
  process.kill(vm.pid!, 'SIGSTOP');
  await expectRescue(run, /QEMU stopped answering: no reply to a QMP status query/);
  await finish(run);
});

test('guest kernel panic: rescue comes up, the reason is recorded', async () => {
  // init exits at once: the kernel panics ("Attempted to kill init"), pvpanic tells QEMU.
  const run = await startAgent(
    'panic',
    configWith((c) => (c.cmdline = `${c.cmdline} rdinit=/bin/busybox -- false`)),
  );
  await expectRescue(run, /panic/);
  await finish(run);
});

test('a guest that never reports ready: the deadline passes, rescue comes up', async () => {
  // busybox's own init instead of ours: the kernel is fine, a console waits for Enter, the guest never says ready.
  // (Extra words after `--` go to init as arguments; OVMF appends initrd=initrd, which busybox init ignores.)
  const run = await startAgent(
    'never-ready',
    configWith((c) => {
      c.cmdline = `${c.cmdline} rdinit=/bin/busybox -- init`;
      c.health = { ...c.health, deadlineSeconds: 20 };
    }),
  );
  await expectRescue(run, /no ready report within its deadline of 20 s/);
  await finish(run);
});

test('a corrupted controller disk: the guest says so, rescue comes up with the disk to repair', async () => {
  // A first run makes the controller's disk (a qcow2 layer over the image's EROFS root) and boots from it.
  const first = await startAgent(
    'corrupt-disk',
    configWith(() => undefined),
  );
  await first.waitForVm('controller', (v) => v.state === 'ready', BOOT_S * 1000, 'reported ready');
  await finish(first);
  // Then the guest-visible start of that disk (the EROFS superblock) is overwritten in its writable layer.
  const diskDir = join(first.stateDir, 'vms', 'controller', 'disk');
  const top = join(diskDir, JSON.parse(await readFile(join(diskDir, 'manifest.json'), 'utf8')).top.file);
  await runTool('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x55 0 1M', top]);
  const run = await AgentRun.start({
    root: host.root,
    config: JSON.parse(await readFile(join(first.dir, 'host.json'), 'utf8')),
    dir: first.dir,
  });
  scenario.adopt(run);
  await expectRescue(run, /the guest reported a failure .*root disk unreadable/);
  // Rescue gets the broken disk to inspect and repair (its qcow2 is sound, so as qcow2).
  const rescue = await run.vm('rescue');
  const cmdline = (await readFile(`/proc/${rescue.pid}/cmdline`, 'utf8')).split('\0');
  assert.ok(
    cmdline.some((a) => a.includes(`file=${top},format=qcow2`)),
    `rescue has the controller's disk: ${cmdline.join(' ')}`,
  );
  await finish(run);
});

test('killing and restarting the agent loses no VM; the new agent watches them', async () => {
  const run = await startAgent(
    'restart',
    configWith(() => undefined),
  );
  const before = await run.waitForVm('controller', (v) => v.state === 'ready', BOOT_S * 1000, 'reported ready');
  await run.kill('SIGKILL');
  process.kill(before.pid!, 0);
  const again = await AgentRun.start({
    root: host.root,
    config: JSON.parse(await readFile(join(run.dir, 'host.json'), 'utf8')),
    dir: run.dir,
  });
  scenario.adopt(again);
  await again.waitForLog(/re-attaching to QEMU pid \d+ \(ready\)/, 30_000);
  const after = await again.vm('controller');
  assert.is(after.pid, before.pid, 'the same QEMU');
  assert.is(after.state, 'ready');
  assert.ok(after.history.some((e) => e.event === 're-attached'));
  // The new agent really watches it: a kill now still ends in rescue.
  process.kill(before.pid!, 'SIGKILL');
  await expectRescue(again, /exited unexpectedly/);
  await finish(again);
});

test.run();
