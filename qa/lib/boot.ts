// Helpers for boot scenarios: boot a kernel in QEMU until a console marker, keep the serial log when it fails, find a
// Debian kernel.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { debDataEntries } from '../../builder/inputs/deb.ts';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { type QemuDrive, type QemuFirmware, type QemuSpec, qemuArgv } from '../../common/qemu/argv.ts';
import { chooseAccel, type QemuExit, QemuRun } from '../../common/qemu/runner.ts';
import { findKernelDeb } from './kernel-deb.ts';

// Where failed boots leave their serial logs (git-ignored).
export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

// One boot: what to run and what to wait for.
export interface BootOptions {
  // Direct kernel boot; absent: the firmware boots from `drives`.
  kernel?: string;
  initrd?: string;
  append?: string;
  marker: string | RegExp;
  timeoutS: number;
  // Names the artifact: qa/artifacts/<name>.log.
  name: string;
  machine?: QemuSpec['machine'];
  memoryMiB?: number;
  cpus?: number;
  // Default tcg: these machines have a KVM that hangs, and auto would spend its probe on every boot.
  accel?: 'auto' | 'kvm' | 'tcg';
  // marker: stop QEMU once the marker is seen; exit: then wait (within the same timeout) for the guest to end QEMU
  // itself.
  until?: 'marker' | 'exit';
  firmware?: QemuFirmware;
  drives?: QemuDrive[];
  usb?: QemuSpec['usb'];
}

// What a boot that reached its marker measured.
export interface BootResult {
  // ms from QEMU's start to the marker line.
  ms: number;
  // ms from QEMU's start to its exit (until: 'exit') or to the stop after the marker.
  totalMs: number;
  // The serial console output.
  log: string;
  accel: 'kvm' | 'tcg';
  exit: QemuExit;
}

// Boots to the marker; on any failure the serial log stays in qa/artifacts/<name>.log and the error names it.
export async function bootToMarker(options: BootOptions): Promise<BootResult> {
  const choice = await chooseAccel(options.accel ?? 'tcg');
  if (choice.warning) process.stderr.write(`warning: ${choice.warning}\n`);
  const log = join(ARTIFACTS, `${options.name}.log`);
  const argv = qemuArgv({
    machine: options.machine ?? 'q35',
    accel: choice.accel,
    cpus: options.cpus ?? 1,
    memoryMiB: options.memoryMiB ?? 256,
    kernel: options.kernel,
    initrd: options.initrd,
    append: options.append,
    serial: 'stdio',
    noReboot: true,
    firmware: options.firmware,
    drives: options.drives,
    usb: options.usb,
  });
  const run = await QemuRun.start({ argv, log });
  const deadline = performance.now() + options.timeoutS * 1000;
  try {
    const ms = await run.waitFor(options.marker, options.timeoutS * 1000);
    let exit: QemuExit;
    if (options.until === 'exit') {
      const left = Math.max(0, deadline - performance.now());
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), left)));
      const ended = await Promise.race([run.exited, late]);
      clearTimeout(timer);
      if (!ended)
        throw run.failure(
          `the guest printed the marker after ${(ms / 1000).toFixed(1)} s but did not end QEMU within ${options.timeoutS} s`,
        );
      exit = ended;
    } else {
      exit = await run.stop();
    }
    const totalMs = run.elapsedMs;
    const output = run.output;
    await rm(log, { force: true });
    return { ms, totalMs, log: output, accel: choice.accel, exit };
  } catch (error) {
    await run.stop();
    throw error;
  }
}

// A Debian kernel image unpacked from a cached linux-image .deb (cloud flavour first: it boots fastest under TCG).
export interface DebianKernel {
  path: string;
  version: string;
  deb: string;
}

// Unpacks /boot/vmlinuz-* from a real kernel package (see findKernelDeb), once per package, into the temp dir.
export async function debianKernel(options: { archives?: string; cacheRoot?: string } = {}): Promise<DebianKernel> {
  const deb = await findKernelDeb(options);
  const dir = join(tmpdir(), 'mvos-qa-kernels');
  await mkdir(dir, { recursive: true });
  const known = join(dir, `${createHash('sha256').update(deb).digest('hex').slice(0, 16)}.json`);
  if (existsSync(known)) return JSON.parse(await readFile(known, 'utf8')) as DebianKernel;
  for await (const entry of debDataEntries(await readFile(deb), deb)) {
    const version = /^boot\/vmlinuz-(.+)$/.exec(entry.header.name)?.[1];
    if (entry.header.type !== 'file' || !version) continue;
    const path = join(dir, `vmlinuz-${version}`);
    await writeFileAtomic(path, entry.content, { mode: 0o666 });
    const kernel = { path, version, deb };
    await writeFile(known, JSON.stringify(kernel));
    return kernel;
  }
  throw new Error(`${deb} has no boot/vmlinuz-*: is it a kernel image package?`);
}
