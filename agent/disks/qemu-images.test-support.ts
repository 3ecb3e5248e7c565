// Test helpers for disk code: real images written and read with qemu-io, and a real QEMU that holds a disk open.
import { type ChildProcess, spawn } from 'node:child_process';
import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTool } from '../../common/exec.ts';

// Makes a raw base image of sizeBytes with pattern byte written over its first 64 KiB.
export async function rawBase(path: string, sizeBytes: number, pattern: number): Promise<void> {
  await writeFile(path, '');
  await truncate(path, sizeBytes);
  await qemuIo(path, [`write -P ${pattern} 0 64k`], { format: 'raw' });
}

// Runs qemu-io commands on an image; resolves whether all of them succeeded (a `read -P` that mismatches fails).
export async function qemuIo(
  path: string,
  commands: string[],
  options: { format?: string; readOnly?: boolean } = {},
): Promise<boolean> {
  const args = ['-f', options.format ?? 'qcow2'];
  if (options.readOnly) args.push('-r');
  for (const command of commands) args.push('-c', command);
  const { exitCode, stdout } = await runTool('qemu-io', [...args, path], { allowFailure: true });
  return exitCode === 0 && !stdout.includes('verification failed');
}

// QEMU arguments for a machine that never runs a guest: q35 under TCG, no default devices, no display, stopped (-S).
export const PAUSED_QEMU = ['-M', 'q35', '-accel', 'tcg', '-nodefaults', '-display', 'none', '-S'];

// A QEMU (paused, no guest) with a disk attached as drive `disk0`, run under the shared boot lock.
export interface HoldingQemu {
  child: ChildProcess;
  // QEMU's own pid (the child is flock).
  pid: number;
  // What QEMU printed so far (HMP's qemu-io prints there, not into the monitor reply).
  output(): string;
  stop(): Promise<void>;
}

// Starts QEMU holding disk open (virtio-blk on q35, -S so no guest runs), writing its pid to pidFile.
export async function startHoldingQemu(options: {
  disk: string;
  pidFile: string;
  qmpSocket?: string;
}): Promise<HoldingQemu> {
  const argv = ['qemu-system-x86_64', ...PAUSED_QEMU, '-m', '64'];
  argv.push(
    '-drive',
    `file=${options.disk},if=none,id=disk0,format=qcow2,node-name=root0`,
    '-device',
    'virtio-blk-pci,drive=disk0',
  );
  argv.push('-pidfile', options.pidFile);
  if (options.qmpSocket) argv.push('-qmp', `unix:${options.qmpSocket},server=on,wait=off`);
  const child = spawn('flock', ['/tmp/mvos-qemu.lock', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Other boots hold the shared lock for minutes at a time.
  const deadline = Date.now() + 600_000;
  for (;;) {
    const pid = Number.parseInt(await readFile(options.pidFile, 'utf8').catch(() => ''), 10);
    if (pid > 0) {
      const stop = async (): Promise<void> => {
        if (child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(pid, 'SIGTERM');
          } catch {
            // Already gone.
          }
          await exited;
        }
      };
      return { child, pid, stop, output: () => stderr };
    }
    if (child.exitCode !== null) throw new Error(`QEMU exited early: ${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('QEMU did not start within 10 minutes (the boot lock is busy, or QEMU hangs)');
    }
    await sleep(50);
  }
}

// Leaks one cluster in a qcow2 image (16-bit refcounts, 64 KiB clusters): appends a cluster and counts it as used
// without any table pointing at it — exactly what a crash between a refcount update and the L2 update leaves.
export async function leakCluster(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const header = Buffer.alloc(64);
    await handle.read(header, 0, 64, 0);
    const refcountTable = Number(header.readBigUInt64BE(48));
    const entry = Buffer.alloc(8);
    await handle.read(entry, 0, 8, refcountTable);
    const refcountBlock = Number(entry.readBigUInt64BE(0));
    const { size } = await handle.stat();
    const cluster = Math.ceil(size / 65536);
    const one = Buffer.alloc(2);
    one.writeUInt16BE(1);
    await handle.write(one, 0, 2, refcountBlock + 2 * cluster);
    await handle.truncate((cluster + 1) * 65536);
  } finally {
    await handle.close();
  }
}

// Runs a qemu-io command inside a running QEMU (through its block layer, where a guest's I/O lands) on drive disk0;
// resolves whether it succeeded (HMP's qemu-io prints to QEMU's output, not into the monitor reply).
export async function qemuIoInside(
  qmp: { execute(command: string, args?: Record<string, unknown>): Promise<unknown> },
  qemu: HoldingQemu,
  command: string,
): Promise<boolean> {
  const before = qemu.output().length;
  await qmp.execute('human-monitor-command', { 'command-line': `qemu-io disk0 "${command}"` });
  const deadline = Date.now() + 10_000;
  while (!/(wrote|read) \d+\/\d+ bytes|failed/.test(qemu.output().slice(before)) && Date.now() < deadline)
    await sleep(20);
  const out = qemu.output().slice(before);
  return /(wrote|read) 65536\/65536 bytes/.test(out) && !out.includes('failed');
}
