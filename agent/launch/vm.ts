// Launch kind `vm`: a full q35 machine with its firmware and private NVRAM, its disk as a qcow2 overlay, virtio devices
// and a health channel.
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { pathExists } from '../../common/files.ts';
import { type QemuFirmware, type QemuSpec, qemuArgv } from '../../common/qemu/argv.ts';
import { FIRMWARE_FILES } from '../../common/qemu/media.ts';
import type { VmConfig } from '../config.ts';
import type { MemoryPlacement } from '../controls.ts';

// The files of one VM's run directory.
export interface VmPaths {
  dir: string;
  qmp: string;
  health: string;
  secrets: string;
  console: string;
  serialLog: string;
  pidfile: string;
  vars: string;
}

// Where a VM's files live under the agent's state directory (short names: unix socket paths are limited to 107 bytes).
export function vmPaths(stateDir: string, name: string): VmPaths {
  const dir = join(stateDir, 'vms', name);
  return {
    dir,
    qmp: join(dir, 'qmp.sock'),
    health: join(dir, 'health.sock'),
    secrets: join(dir, 'secrets.sock'),
    console: join(dir, 'console.sock'),
    serialLog: join(dir, 'serial.log'),
    pidfile: join(dir, 'qemu.pid'),
    vars: join(dir, 'vars.fd'),
  };
}

// Image paths in host.json are paths inside the host image; on a build machine they live under a root folder.
export async function imagePath(root: string, path: string): Promise<string> {
  if (root === '/' || root === '') return path;
  const inside = join(root, path);
  return (await pathExists(inside)) ? inside : path;
}

const DEFAULT_CODE = {
  ovmf: FIRMWARE_FILES.ovmfCode,
  'ovmf-secureboot': '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
  seabios: FIRMWARE_FILES.seabios,
} as const;

// The VM's firmware; OVMF gets its own NVRAM copy, made once and kept (boot entries and keys persist like on a real
// machine).
export async function vmFirmware(vm: VmConfig, root: string, paths: VmPaths): Promise<QemuFirmware | undefined> {
  const type = vm.firmware.type;
  if (type === 'none') return undefined;
  const code = await imagePath(root, vm.firmware.code ?? DEFAULT_CODE[type]);
  if (type === 'seabios') return { type, code };
  if (!(await pathExists(paths.vars)))
    await copyFile(await imagePath(root, vm.firmware.vars ?? FIRMWARE_FILES.ovmfVars), paths.vars);
  return { type, code, vars: paths.vars };
}

// How a disk can be attached: as qcow2 when qemu-img can read it, else as its raw bytes (so a rescue VM can still
// repair it).
export async function readableFormat(file: string): Promise<'qcow2' | 'raw'> {
  const info = await runTool('qemu-img', ['info', '-U', '-f', 'qcow2', file], {
    timeoutMs: 10_000,
    allowFailure: true,
  });
  return info.exitCode === 0 ? 'qcow2' : 'raw';
}

// Everything a launch needs besides the VM's config.
export interface LaunchContext {
  root: string;
  accel: 'kvm' | 'tcg';
  // The host's TSC rate in kHz, told to microvm guests under TCG (see common/qemu/tsc.ts).
  tscKhz?: number;
  paths: VmPaths;
  // The disk file to attach (the checkpoint store's active top, or the plain overlay).
  disk?: string;
  // Disks of failed VMs handed to a rescue VM to inspect and repair (after its own; /dev/vdb on); raw when the qcow2 is
  // unreadable.
  repairDisks?: Array<{ file: string; format: 'qcow2' | 'raw' }>;
  // Where the pinning plan put the VM's memory.
  memory?: MemoryPlacement;
  // Its NICs, VFIO devices and fw_cfg files (agent/net/links.ts).
  net?: Pick<QemuSpec, 'nics' | 'vfio' | 'fwCfg'>;
}

// The QEMU memory backend for a placement; none when the kernel's default placement and normal pages will do.
export function memoryBackend(memory: MemoryPlacement | undefined): Pick<QemuSpec, 'memoryBackend'> {
  if (!memory || (memory.policy !== 'bind' && !memory.hugepages)) return {};
  return {
    memoryBackend: {
      ...(memory.policy === 'bind' && memory.node !== undefined ? { hostNode: memory.node } : {}),
      hugepages: memory.hugepages,
    },
  };
}

// What every launch kind gives QEMU the same way: the accelerator, CPUs, memory and its placement, the guest's kernel
// and initrd.
export async function guestBasics(
  vm: VmConfig,
  context: LaunchContext,
): Promise<
  Pick<QemuSpec, 'accel' | 'cpus' | 'memoryMiB' | 'memoryBackend' | 'kernel' | 'initrd' | 'nics' | 'vfio' | 'fwCfg'>
> {
  return {
    ...context.net,
    accel: context.accel,
    cpus: vm.cpus,
    memoryMiB: vm.memoryMiB,
    ...memoryBackend(context.memory),
    kernel: await imagePath(context.root, vm.kernel),
    initrd: await imagePath(context.root, vm.initrd),
  };
}

// The QEMU spec of a `vm` launch: q35, firmware, direct kernel boot of the guest image, disk, serial socket with log,
// QMP, health channel.
export async function vmSpec(vm: VmConfig, context: LaunchContext): Promise<QemuSpec> {
  const { paths } = context;
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const firmware = await vmFirmware(vm, context.root, paths);
  const disk = context.disk;
  // Ours first: whatever follows `--` in the recipe's command line belongs to init.
  const append = [disk ? 'mvos.root=/dev/vda' : '', vm.cmdline].filter(Boolean).join(' ');
  return {
    machine: 'q35',
    ...(await guestBasics(vm, context)),
    append,
    ...(firmware ? { firmware } : {}),
    // SeaBIOS's menu wait from the recipe (OVMF keeps its timeout in the VM's NVRAM instead).
    ...(vm.firmware.type === 'seabios' && vm.firmware.menuWaitMs !== undefined
      ? { bootMenuWaitMs: vm.firmware.menuWaitMs }
      : {}),
    drives: [...(disk ? [{ file: disk, format: 'qcow2' as const }] : []), ...(context.repairDisks ?? [])].map((d) => ({
      ...d,
      interface: 'virtio' as const,
    })),
    serial: { socket: paths.console, logfile: paths.serialLog },
    qmp: paths.qmp,
    healthChannel: paths.health,
    secretsChannel: paths.secrets,
    noReboot: true,
    // pvpanic turns a guest kernel panic into QMP GUEST_PANICKED; debug-threads names vCPU threads "CPU n/KVM|TCG".
    extra: ['-device', 'pvpanic', '-action', 'panic=shutdown', '-name', `guest=${vm.name},debug-threads=on`],
  };
}

// Starts QEMU detached from the agent (-daemonize), so the VM outlives an agent restart; resolves with QEMU's pid. With
// `netns`, QEMU runs in that network namespace (a router whose tap uplink lives there); the agent never does.
export async function startQemu(
  spec: QemuSpec,
  paths: VmPaths,
  options: { qemu?: string; pidfile?: string; netns?: string } = {},
): Promise<number> {
  const pidfile = options.pidfile ?? paths.pidfile;
  const qemu = options.qemu ?? 'qemu-system-x86_64';
  const argv = [...qemuArgv(spec), '-daemonize', '-pidfile', pidfile];
  const [file, args] = options.netns
    ? ['nsenter', [`--net=/run/netns/${options.netns}`, '--', qemu, ...argv]]
    : [qemu, argv];
  const result = await runTool(file, args, { timeoutMs: 60_000, allowFailure: true });
  if (result.exitCode !== 0)
    throw new Error(`QEMU did not start: ${lastLines(result.stderr) || `exit code ${result.exitCode}`}`);
  return Number.parseInt((await readFile(pidfile, 'utf8')).trim(), 10);
}

function lastLines(text: string): string {
  return text
    .trim()
    .split('\n')
    .slice(-3)
    .join(' / ')
    .replace(/^qemu-system-x86_64: /, '');
}
