// Launch kind `novm`: a microVM with no firmware and no disk of its own — direct kernel boot, the immutable root shared
// read-only over virtio-blk, writes in a tmpfs.
import type { QemuSpec } from '../../common/qemu/argv.ts';
import { microvmClockArgs } from '../../common/qemu/tsc.ts';
import type { VmConfig } from '../config.ts';
import { guestBasics, imagePath, type LaunchContext } from './vm.ts';

// microvm without option ROMs; serial, RTC and ACPI stay for console, clock and power-off. The PIT stays: where the
// kernel is not told the TSC rate (tsc_early_khz, see common/qemu/tsc.ts), its one chance to measure it is the PIT.
export const MICROVM_OPTIONS = 'x-option-roms=off,isa-serial=on,rtc=on';

// qboot, the minimal firmware microvm was made with, named rather than left to QEMU: its default, bios-microvm.bin, is a
// link to qboot in Debian 12, but Debian 13 ships no such link and QEMU 10 then finds SeaBIOS's microvm build on its
// firmware path, which never reaches the kernel here.
export const MICROVM_FIRMWARE = '/usr/share/qemu/qboot.rom';

// The QEMU spec of a `novm` launch; the root disk is the base image itself, opened read-only, so any number of VMs
// share one file.
export async function novmSpec(
  vm: VmConfig,
  context: LaunchContext & { rootDisk?: string; extraDrives?: string[]; append?: string },
): Promise<QemuSpec> {
  const { paths } = context;
  const root = context.rootDisk ?? (vm.disk ? await imagePath(context.root, vm.disk) : undefined);
  const drives = [...(root ? [root] : []), ...(context.extraDrives ?? [])].map((file) => ({
    file,
    format: 'raw' as const,
    interface: 'virtio' as const,
    readonly: true,
  }));
  return {
    machine: 'microvm',
    ...(await guestBasics(vm, context)),
    // Ours first: whatever follows `--` in the recipe's command line belongs to init.
    append: [
      root ? 'mvos.root=/dev/vda' : '',
      microvmClockArgs(context.accel, context.tscKhz),
      context.append ?? '',
      vm.cmdline,
    ]
      .filter(Boolean)
      .join(' '),
    drives,
    serial: { socket: paths.console, logfile: paths.serialLog },
    qmp: paths.qmp,
    healthChannel: paths.health,
    secretsChannel: paths.secrets,
    noReboot: true,
    extra: [
      '-bios',
      await imagePath(context.root, MICROVM_FIRMWARE),
      '-machine',
      MICROVM_OPTIONS,
      '-name',
      `guest=${vm.name},debug-threads=on`,
    ],
  };
}
