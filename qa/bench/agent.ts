// Bench rows for the agent: controller-ready time from agent start, beside a raw QEMU launch of the same guest image in
// the same run.
import { spawn } from 'node:child_process';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VmView } from '../../agent/controls.ts';
import { MICROVM_FIRMWARE } from '../../agent/launch/novm.ts';
import { unpackOciImage } from '../../agent/launch/oci.ts';
import { configDisk } from '../../agent/launch/oci-config.ts';
import { layerTar, writeLayout } from '../../agent/launch/oci-images.test-support.ts';
import { hostTscKhz, microvmClockArgs } from '../../common/qemu/tsc.ts';
import { AgentRun, apiCall, hostRoot, killVms, type ScenarioVm } from '../lib/agent-run.ts';
import { ARTIFACTS, bootToMarker } from '../lib/boot.ts';

// One row of the bench table (the shape qa/bench/run.ts prints).
export interface BenchRow {
  metric: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  note?: string;
}

// The middle value (the upper one of two).
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

function rootPath(root: string, path: string): string {
  return join(root, path);
}

// Seconds from `since` (Date.now() before the launch request) to the ready time the agent recorded: the poll that sees
// it runs every 250 ms, which would add 125 ms on average to a launch of under 2 s.
export function secondsToReady(vm: VmView, since: number): number {
  return (Date.parse(vm.readyAt!) - since) / 1000;
}

// Agent start → controller ready (agent process start, config, KVM choice, planning, launch, pinning, health) vs QEMU
// start → the same marker.
export async function controllerReadyRows(runs: number): Promise<BenchRow[]> {
  const host = await hostRoot();
  const controller = host.config.vms.find((vm) => vm.role === 'controller')!;
  const agent: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = join(ARTIFACTS, 'bench-agent');
    rmSync(dir, { recursive: true, force: true });
    const started = Date.now();
    const run = await AgentRun.start({ root: host.root, config: host.config, dir });
    try {
      const vm = await run.waitForVm('controller', (v) => v.state === 'ready', 600_000, 'reported ready');
      agent.push(secondsToReady(vm, started));
    } finally {
      await run.kill('SIGKILL');
      await killVms(run.stateDir, ['controller', 'rescue']);
    }
    const vars = join(ARTIFACTS, 'bench-raw-vars.fd');
    copyFileSync(controller.firmware?.vars ? rootPath(host.root, controller.firmware.vars) : OVMF_VARS, vars);
    const boot = await bootToMarker({
      name: 'bench-controller-raw',
      kernel: rootPath(host.root, controller.kernel),
      initrd: rootPath(host.root, controller.initrd),
      append: controller.cmdline,
      marker: controller.health.marker,
      timeoutS: 600,
      memoryMiB: controller.memoryMiB,
      cpus: controller.cpus,
      firmware: {
        type: 'ovmf',
        code: controller.firmware?.code ? rootPath(host.root, controller.firmware.code) : OVMF_CODE,
        vars,
      },
    });
    raw.push(boot.ms / 1000);
  }
  const a = median(agent);
  const b = median(raw);
  return [
    {
      metric: `controller ready from agent start (TCG, median of ${runs})`,
      value: a,
      unit: 's',
      baseline: b,
      ratio: a / b,
      note:
        'baseline: plain qemu-system-x86_64 with the same kernel, initrd, firmware and cmdline, to the same ' +
        'marker on serial',
    },
  ];
}

let rawStalls = 0;

// A raw QEMU boot to a marker; a boot that misses its marker is tried again, and counted (it should not happen: see
// common/qemu/tsc.ts).
async function rawBoot(
  argv: string[],
  marker: string,
  timeoutMs: number,
): Promise<{ seconds: number; rssKiB: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await rawBootOnce(argv, marker, timeoutMs);
    } catch (error) {
      if (attempt >= 3) throw error;
      rawStalls++;
    }
  }
}

// A raw QEMU run to a console marker, with its resident memory read at that moment (what the agent's launch is compared
// with).
async function rawBootOnce(
  argv: string[],
  marker: string,
  timeoutMs: number,
): Promise<{ seconds: number; rssKiB: number }> {
  const started = performance.now();
  const child = spawn('qemu-system-x86_64', argv, { stdio: ['ignore', 'pipe', 'ignore'] });
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`raw QEMU: no ${marker} within ${timeoutMs} ms:\n${output.slice(-2000)}`)),
        timeoutMs,
      );
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(marker)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', () => reject(new Error(`raw QEMU exited before ${marker}:\n${output.slice(-2000)}`)));
    });
    return { seconds: (performance.now() - started) / 1000, rssKiB: await rss(child.pid!) };
  } finally {
    child.kill('SIGKILL');
  }
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

// A novm VM on the controller's guest image (kernel, initrd, root disk), with its own deadline and restart count.
export function novmApp(
  controller: ScenarioVm,
  limits: { deadlineSeconds: number; attempts: number; cmdline?: string },
) {
  return {
    name: 'app',
    role: 'application',
    launch: 'novm',
    cpus: 1,
    memoryMiB: 256,
    autostart: false,
    ephemeral: false,
    kernel: controller.kernel,
    initrd: controller.initrd,
    disk: controller.disk,
    hugepages: controller.hugepages,
    cmdline: limits.cmdline ?? controller.cmdline,
    firmware: { type: 'none' },
    health: { ...controller.health, deadlineSeconds: limits.deadlineSeconds },
    restart: { attempts: limits.attempts, backoffSeconds: 1, windowSeconds: 600 },
  };
}

// An OCI layout at `dir` holding static busybox, whose entrypoint runs `command` in sh.
export async function busyboxImage(dir: string, command: string): Promise<string> {
  rmSync(dir, { recursive: true, force: true });
  const layer = await layerTar([
    { name: 'bin', type: 'directory' },
    { name: 'bin/busybox', content: await readFile('/bin/busybox'), mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
  ]);
  await writeLayout(dir, [layer], { Entrypoint: ['sh', '-c', command] });
  return dir;
}

// novm and container launch-to-ready through the agent's API vs raw QEMU booting the same kernel and root, plus QEMU's
// memory each way.
export async function workloadRows(runs: number): Promise<BenchRow[]> {
  const host = await hostRoot();
  const controller = host.config.vms.find((vm) => vm.role === 'controller')!;
  const app = novmApp(controller, { deadlineSeconds: 45, attempts: 3 });
  // Only the workload: no controller competing for the CPUs while it is timed.
  const config = { ...structuredClone(host.config), vms: [app] };
  const image = await busyboxImage(join(ARTIFACTS, 'bench-oci'), 'sleep 30');
  const root = (path: string) => join(host.root, path);
  // The same clock arguments the agent gives a microvm under TCG, so the baseline boots the same way.
  const clock = microvmClockArgs('tcg', hostTscKhz());
  const novmArgv = (extra: string[]) => [
    '-nodefaults',
    '-no-user-config',
    '-machine',
    'microvm',
    '-accel',
    'tcg',
    '-smp',
    '1',
    '-m',
    '256',
    '-display',
    'none',
    '-no-reboot',
    '-serial',
    'stdio',
    // The firmware the agent names for novm (qboot), from the image.
    '-bios',
    root(MICROVM_FIRMWARE),
    ...extra,
  ];
  const m = {
    agentNovm: [] as number[],
    rawNovm: [] as number[],
    agentCtr: [] as number[],
    rawCtr: [] as number[],
    rssAgent: [] as number[],
    rssRaw: [] as number[],
    agentRss: [] as number[],
  };
  for (let i = 0; i < runs; i++) {
    const dir = join(ARTIFACTS, 'bench-workloads');
    rmSync(dir, { recursive: true, force: true });
    const run = await AgentRun.start({ root: host.root, config, dir });
    try {
      let t = Date.now();
      await apiCall(run, 'POST', '/api/vms/app/start');
      const vm = await run.waitForVm('app', (v) => v.state === 'ready', 600_000, 'reported ready');
      m.agentNovm.push(secondsToReady(vm, t));
      m.rssAgent.push(await rss(vm.pid!));
      m.agentRss.push(await rss(run.child.pid!));
      await apiCall(run, 'POST', '/api/vms/app/stop');
      t = Date.now();
      const started = await apiCall(run, 'POST', '/api/containers', { name: 'job', image });
      if (started.status !== 201) throw new Error(`container launch: ${JSON.stringify(started.json)}`);
      const job = await run.waitForVm('job', (v) => v.state === 'ready', 600_000, 'started its command');
      m.agentCtr.push(secondsToReady(job, t));
    } finally {
      await run.kill('SIGKILL');
      await killVms(run.stateDir, ['app', 'job']);
    }
    const raw = await rawBoot(
      novmArgv([
        '-kernel',
        root(app.kernel),
        '-initrd',
        root(app.initrd),
        '-append',
        `mvos.root=/dev/vda ${clock} ${app.cmdline}`,
        '-drive',
        `file=${root(app.disk!)},format=raw,if=none,id=d0,readonly=on`,
        '-device',
        'virtio-blk-device,drive=d0',
      ]),
      'MVOS-GUEST-READY',
      90_000,
    );
    m.rawNovm.push(raw.seconds);
    m.rssRaw.push(raw.rssKiB);
    // The container baseline boots the image the agent unpacked, with its config disk: the unpack itself is the agent's
    // cost.
    const unpacked = join(ARTIFACTS, 'bench-oci-unpacked');
    rmSync(unpacked, { recursive: true, force: true });
    const image0 = await unpackOciImage(image, unpacked);
    writeFileSync(join(unpacked, 'config.img'), configDisk(image0.run));
    const ctr = await rawBoot(
      novmArgv([
        '-kernel',
        root(host.config.containers!.kernel),
        '-initrd',
        root(host.config.containers!.initrd),
        '-append',
        `mvos.root=/dev/vda ${clock} mvos.config=/dev/vdb console=ttyS0 quiet panic=-1`,
        '-drive',
        `file=${image0.rootfs},format=raw,if=none,id=d0,readonly=on`,
        '-device',
        'virtio-blk-device,drive=d0',
        '-drive',
        `file=${join(unpacked, 'config.img')},format=raw,if=none,id=d1,readonly=on`,
        '-device',
        'virtio-blk-device,drive=d1',
      ]),
      'MVOS-CONTAINER-STARTED',
      90_000,
    );
    m.rawCtr.push(ctr.seconds);
  }
  const row = (metric: string, value: number[], baseline: number[], note: string): BenchRow => ({
    metric,
    value: median(value),
    unit: 's',
    baseline: median(baseline),
    ratio: median(value) / median(baseline),
    note,
  });
  return [
    row(
      `novm launch to ready via the agent API (TCG, median of ${runs})`,
      m.agentNovm,
      m.rawNovm,
      'baseline: qemu -M microvm, same kernel, initrd and read-only EROFS root, to the same marker',
    ),
    row(
      `container launch to started via the agent API (TCG, median of ${runs})`,
      m.agentCtr,
      m.rawCtr,
      'includes unpacking the OCI image to EROFS; baseline: qemu -M microvm on the already unpacked root and config' +
        ' disk',
    ),
    {
      metric: 'QEMU memory per novm VM, agent launch (RSS at ready)',
      value: median(m.rssAgent) / 1024,
      unit: 'MiB',
      baseline: median(m.rssRaw) / 1024,
      ratio: median(m.rssAgent) / median(m.rssRaw),
      note: 'agent adds QMP, health channel, serial socket with log; baseline: raw QEMU with serial on stdio',
    },
    {
      metric: 'agent process memory through tsx (RSS, one novm VM running)',
      value: median(m.agentRss) / 1024,
      unit: 'MiB',
      note: 'the sources compiled by tsx in the process; the host runs the bundle: see the agent RSS row',
    },
    {
      metric: 'raw microvm boots that stalled and were tried again',
      value: rawStalls,
      unit: 'n',
      note: 'the TCG TSC-calibration stall, gone with tsc_early_khz (common/qemu/tsc.ts)',
    },
  ];
}
