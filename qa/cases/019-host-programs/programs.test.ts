// The host image's own programs run from the image's own files: its agent bundle on its Node, its QEMU with its
// firmware and the one QEMU module it keeps (TCG), launching the controller (q35, OVMF) and a novm VM (microvm) — in a
// chroot of the unpacked initramfs, so a library or firmware file that the recipe's drop and prune rules took away
// shows here, without a nested boot.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VmView } from '../../../agent/controls.ts';
import type { AgentStatus } from '../../../agent/status.ts';
import { runTool } from '../../../common/exec.ts';
import { novmApp } from '../../bench/agent.ts';
import { hostRoot, killVms } from '../../lib/agent-run.ts';

const BOOT_MS = 240_000;
let host: Awaited<ReturnType<typeof hostRoot>>;
let work: string;
let agent: ChildProcess | undefined;
let output = '';

// Runs argv inside the image root as the host's init would start it: private mounts of /dev, /proc, /sys, a /run with
// busybox's applet links and the work folder as /tmp, then chroot with init's PATH for the agent.
function inImage(argv: string[]): ChildProcess {
  const script = [
    'set -e',
    'mount --rbind /dev "$R/dev"',
    'mount -t proc proc "$R/proc"',
    'mount -t sysfs sysfs "$R/sys"',
    'mount --bind "$W" "$R/tmp"',
    'mount -t tmpfs tmpfs "$R/run"',
    'chroot "$R" /bin/busybox mkdir -p /run/mvos/bin',
    'chroot "$R" /bin/busybox --install -s /run/mvos/bin',
    'export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/run/mvos/bin',
    'exec chroot "$R" "$@"',
  ].join('\n');
  return spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'in-image', ...argv], {
    // The host's init starts the agent with a bare environment; this machine's variables (NODE_EXTRA_CA_CERTS naming a
    // file the image lacks) would change what the image's Node does.
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', R: host.root, W: work },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function finished(child: ChildProcess): Promise<{ code: number | null; out: string }> {
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, out };
}

async function vm(name: string): Promise<VmView | undefined> {
  const status = JSON.parse(await readFile(join(work, 'run', 'status.json'), 'utf8')) as AgentStatus;
  return status.vms.find((v) => v.name === name);
}

async function waitReady(name: string): Promise<VmView> {
  const until = Date.now() + BOOT_MS;
  let last: VmView | undefined;
  while (Date.now() < until) {
    last = await vm(name).catch(() => last);
    if (last?.state === 'ready') return last;
    if (last?.state === 'failed') break;
    await sleep(500);
  }
  throw new Error(`${name} not ready: ${JSON.stringify(last, null, 1)}\nagent:\n${output}`);
}

test.before(async () => {
  host = await hostRoot();
  work = await mkdtemp(join(tmpdir(), 'mvos-019-'));
});

test.after(async () => {
  agent?.kill('SIGKILL');
  await killVms(join(work, 'state'), ['controller', 'rescue', 'app']);
  await rm(work, { recursive: true, force: true });
});

test("the image's QEMU tools and Node run from the image's libraries", async () => {
  const qemu = await finished(inImage(['/usr/bin/qemu-system-x86_64', '--version']));
  assert.is(qemu.code, 0, qemu.out);
  assert.match(qemu.out, /QEMU emulator version/);
  const img = await finished(inImage(['/usr/bin/qemu-img', 'create', '-f', 'qcow2', '/tmp/probe.qcow2', '1M']));
  assert.is(img.code, 0, img.out);
  const node = await finished(inImage(['/usr/bin/node', '-e', 'console.log(new Intl.NumberFormat("en").format(1e6))']));
  assert.is(node.code, 0, node.out);
  assert.match(node.out, /1,000,000/);
});

test("the image's agent launches the controller (q35, OVMF) and a novm VM (microvm) with the image's QEMU", async () => {
  const config = structuredClone(host.config);
  const controller = config.vms.find((v) => v.role === 'controller')!;
  controller.restart = { attempts: 0, backoffSeconds: 1, windowSeconds: 600 };
  config.vms.push({ ...novmApp(controller, { deadlineSeconds: 60, attempts: 0 }), autostart: true });
  await writeFile(join(work, 'host.json'), JSON.stringify(config));
  agent = inImage([
    '/usr/bin/node',
    '/usr/lib/mvos/agent.mjs',
    '--root',
    '/',
    '--config',
    '/tmp/host.json',
    '--state-dir',
    '/tmp/state',
    '--run-dir',
    '/tmp/run',
    '--accel',
    'tcg',
    '--stop-grace',
    '1',
  ]);
  agent.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  agent.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  for (const name of ['controller', 'app']) {
    const ready = await waitReady(name);
    // The QEMU that ran is the image's: its root is the image root, its binary the image's file.
    assert.is(await readlink(`/proc/${ready.pid}/root`), host.root.replace(/\/$/, ''));
    const { stdout } = await runTool('cat', [`/proc/${ready.pid}/cmdline`]);
    assert.match(stdout, name === 'app' ? /microvm/ : /OVMF_CODE_4M/);
    console.log(
      `  ${name}: ready after ${((Date.parse(ready.readyAt!) - Date.parse(ready.startedAt!)) / 1000).toFixed(1)} s`,
    );
  }
});

test.run();
