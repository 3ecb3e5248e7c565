// The agent's other launches and disks, driven through `mvos vm` on its socket: a `novm` microVM on the shared
// read-only root, a live checkpoint → a write inside the guest → rollback with restart → the write is gone, and an
// ephemeral VM whose writable layer is gone after stop and after an agent kill + restart.

import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { layerTar, writeLayout } from '../../../agent/launch/oci-images.test-support.ts';
import type { CheckpointView } from '../../../common/api-types.ts';
import {
  AgentRun,
  apiCall,
  consoleCommand,
  hostRoot,
  killVms,
  mvosVm,
  type ScenarioConfig,
} from '../../lib/agent-run.ts';
import { ARTIFACTS } from '../../lib/boot.ts';

const BOOT_MS = 240_000;
const NAMES = ['controller', 'rescue', 'app', 'scratch', 'job', 'twin'];
let host: Awaited<ReturnType<typeof hostRoot>>;
let run: AgentRun;

// The image's host config plus two VMs made from the controller's guest image: `app` (novm) and `scratch` (ephemeral
// vm).
function workloadConfig(): ScenarioConfig {
  const config = structuredClone(host.config);
  const controller = config.vms.find((vm) => vm.role === 'controller')!;
  const like = {
    cpus: 1,
    memoryMiB: 256,
    kernel: controller.kernel,
    initrd: controller.initrd,
    disk: controller.disk,
    cmdline: controller.cmdline,
    health: controller.health,
    autostart: false,
    restart: { attempts: 0, backoffSeconds: 1 },
  };
  // Not quiet: a boot that stalls shows where in the serial log the test keeps. No restart: told the TSC rate
  // (common/qemu/tsc.ts), a microvm under TCG no longer stalls calibrating it, and a stall must fail this test.
  config.vms.push({
    ...like,
    name: 'app',
    role: 'application',
    launch: 'novm',
    ephemeral: false,
    firmware: { type: 'none' },
    cmdline: like.cmdline.replace(/\bquiet\b/, ''),
    health: { ...like.health, deadlineSeconds: 30 },
    restart: { attempts: 0, backoffSeconds: 1 },
  });
  config.vms.push({
    ...like,
    name: 'scratch',
    role: 'utility',
    launch: 'vm',
    ephemeral: true,
    firmware: controller.firmware,
  });
  return config;
}

async function ephemeralLayers(): Promise<string[]> {
  return readdir(join(run.stateDir, 'ephemeral')).catch(() => []);
}

test.before(async () => {
  host = await hostRoot();
  const dir = join(ARTIFACTS, '011-workloads');
  await rm(dir, { recursive: true, force: true });
  run = await AgentRun.start({ root: host.root, config: workloadConfig(), dir });
});

test.after(async () => {
  await run.kill('SIGKILL');
  await killVms(run.stateDir, NAMES);
  for (const layer of await ephemeralLayers()) {
    const pid = Number.parseInt(
      await readFile(join(run.stateDir, 'ephemeral', layer, 'qemu.pid'), 'utf8').catch(() => ''),
      10,
    );
    if (pid > 0) process.kill(pid, 'SIGKILL');
  }
});

test('novm: a microVM boots from the shared read-only root and reports ready', async () => {
  const started = mvosVm(run, ['start', 'app']);
  assert.is(started.status, 0, started.stderr);
  const app = await run.waitForVm('app', (vm) => vm.state === 'ready', BOOT_MS, 'reported ready');
  const cmdline = (await readFile(`/proc/${app.pid}/cmdline`, 'utf8')).split('\0');
  assert.ok(cmdline.includes('microvm'), 'machine microvm');
  assert.ok(
    cmdline.some(
      (a) => a.includes(`file=${join(host.root, host.config.vms[0]!.disk!)},format=raw`) && a.includes('readonly=on'),
    ),
    `the image's root, read-only: ${cmdline.join(' ')}`,
  );
  assert.not.ok(
    cmdline.some((a) => a.startsWith('if=pflash')),
    'no firmware',
  );
  assert.match(await readFile(join(run.stateDir, 'vms', 'app', 'serial.log'), 'utf8'), /root on \/dev\/vda/);
  console.log(
    `  novm ready ${((Date.parse(app.readyAt!) - Date.parse(app.startedAt!)) / 1000).toFixed(1)} s after launch`,
  );
  assert.is(mvosVm(run, ['stop', 'app']).status, 0);
});

test('checkpoint (live) → write inside the guest → rollback with restart → the write is gone', async () => {
  await run.waitForVm('controller', (vm) => vm.state === 'ready', BOOT_MS, 'reported ready');
  const taken = mvosVm(run, ['checkpoint', 'controller', '--label', 'before-write']);
  assert.is(taken.status, 0, taken.stderr);
  const id = String((taken.json as CheckpointView).id);
  // EROFS leaves its first 1 KiB unused: sector 0 is the guest's to scribble on without harming its root.
  const write =
    'echo MVOS-WRITTEN-42 | dd of=/dev/vda bs=512 count=1 conv=sync,notrunc 2>/dev/null; sync; echo "WROTE=$(dd ' +
    'if=/dev/vda bs=512 count=1 2>/dev/null | grep -a -c MVOS-WRITTEN-42)"';
  assert.match(
    await consoleCommand(run.stateDir, 'controller', write, /WROTE=\d/),
    /WROTE=1/,
    'the guest reads its own write back',
  );
  const list = mvosVm(run, ['checkpoint', 'controller', '--list']);
  assert.ok(
    (list.json as Array<{ id: string; label?: string }>).some((c) => String(c.id) === id && c.label === 'before-write'),
    JSON.stringify(list.json),
  );
  const back = mvosVm(run, ['rollback', 'controller', id, '--restart']);
  assert.is(back.status, 0, back.stderr);
  await run.waitForVm(
    'controller',
    (vm) => vm.state === 'ready' && vm.history.some((e) => e.event === 'rollback'),
    BOOT_MS,
    'came back after the rollback',
  );
  const read = 'echo "FOUND=$(dd if=/dev/vda bs=512 count=1 2>/dev/null | grep -a -c MVOS-WRITTEN-42)"';
  assert.match(
    await consoleCommand(run.stateDir, 'controller', read, /FOUND=\d/),
    /FOUND=0/,
    'after the rollback the write is gone',
  );
});

test('container: an OCI image built here from static busybox runs in a microVM; output and exit code come back', async () => {
  const image = join(run.dir, 'oci');
  await rm(image, { recursive: true, force: true });
  const lower = await layerTar([
    { name: 'bin', type: 'directory' },
    { name: 'bin/busybox', content: await readFile('/bin/busybox'), mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'etc/motd', content: 'removed by the upper layer' },
  ]);
  const upper = await layerTar([{ name: 'etc/.wh.motd' }]);
  await writeLayout(image, [lower, upper], {
    Entrypoint: ['sh', '-c'],
    Cmd: ['echo "hello from $NAME in $(pwd)"; [ -e /etc/motd ] || echo whiteout-ok; exit 7'],
    Env: ['NAME=job'],
    WorkingDir: '/tmp',
  });
  const started = await apiCall(run, 'POST', '/api/containers', { name: 'job', image });
  assert.is(started.status, 201, JSON.stringify(started.json));
  const job = await run.waitForVm(
    'job',
    (vm) => vm.state === 'stopped' && vm.result !== undefined,
    BOOT_MS,
    'ran to its end',
  );
  assert.is(job.result!.exitCode, 7, 'the exit code is the VM result');
  const log = await apiCall(run, 'GET', '/api/vms/job/console');
  assert.match(String(log.json), /hello from job in \/tmp/);
  assert.match(String(log.json), /whiteout-ok/);
  assert.equal(await readdir(join(run.stateDir, 'containers')), [], 'the unpacked image is gone with the VM');
  const took = Date.parse(job.result!.at) - Date.parse(job.startedAt!);
  console.log(`  container: exit code 7 back ${(took / 1000).toFixed(1)} s after launch`);
});

test('two launches of one container name at once: one runs, the other is refused, nothing is orphaned', async () => {
  const image = join(run.dir, 'oci');
  const [a, b] = await Promise.all([
    apiCall(run, 'POST', '/api/containers', { name: 'twin', image }),
    apiCall(run, 'POST', '/api/containers', { name: 'twin', image }),
  ]);
  assert.equal([a.status, b.status].sort(), [201, 409], `${JSON.stringify(a.json)} / ${JSON.stringify(b.json)}`);
  assert.match(JSON.stringify(a.status === 409 ? a.json : b.json), /twin is already/);
  // Checked while the accepted one runs (its guest need not have booted): one QEMU, and its unpacked image in place.
  const qmp = join(run.stateDir, 'vms', 'twin', 'qmp.sock');
  const qemus = async (): Promise<number> => {
    let count = 0;
    for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p)))
      if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(qmp)) count++;
    return count;
  };
  const twin = await run.waitForVm(
    'twin',
    (vm) => vm.pid !== undefined || vm.result !== undefined,
    BOOT_MS,
    'launched',
  );
  if (twin.result === undefined) {
    assert.is(await qemus(), 1, 'exactly one QEMU for the name');
    assert.equal(await readdir(join(run.stateDir, 'containers')), ['twin'], 'the accepted launch kept its files');
    await apiCall(run, 'POST', '/api/vms/twin/stop');
  }
  await run.waitForVm('twin', (vm) => vm.state === 'stopped', BOOT_MS, 'stopped');
  assert.is(await qemus(), 0, 'no QEMU of twin is left running');
  assert.equal(await readdir(join(run.stateDir, 'containers')), []);
});

test('ephemeral: the writable layer is gone after stop, and after an agent kill + restart', async () => {
  assert.is(mvosVm(run, ['start', 'scratch']).status, 0);
  await run.waitForVm('scratch', (vm) => vm.state === 'ready', BOOT_MS, 'reported ready');
  assert.is((await ephemeralLayers()).length, 1, 'one layer while it runs');
  assert.is(mvosVm(run, ['stop', 'scratch']).status, 0);
  assert.equal(await ephemeralLayers(), [], 'nothing left after stop');

  assert.is(mvosVm(run, ['start', 'scratch']).status, 0);
  const scratch = await run.waitForVm('scratch', (vm) => vm.state === 'ready', BOOT_MS, 'reported ready');
  assert.is((await ephemeralLayers()).length, 1);
  // The agent and the VM die together (a host power cut would do the same); the next agent sweeps the layer.
  await run.kill('SIGKILL');
  process.kill(scratch.pid!, 'SIGKILL');
  run = await AgentRun.start({ root: host.root, config: workloadConfig(), dir: run.dir });
  await run.waitForLog(/ephemeral layers removed: /, 30_000);
  assert.equal(await ephemeralLayers(), [], 'nothing left after the restart');
});

test.run();
