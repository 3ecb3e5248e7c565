// Firmware and drives for booting a built medium the way a machine would: BIOS or UEFI, from a CD, a USB stick or a
// disk.
import { copyFileSync } from 'node:fs';
import type { QemuDrive, QemuFirmware } from './argv.ts';

// Debian's firmware files (packages ovmf and seabios); the 4M OVMF is the one Debian 12 and 13 ship for q35.
export const FIRMWARE_FILES = {
  // The 256 KiB build, QEMU's own default for pc and q35: Debian's 128 KiB bios.bin leaves out NVMe and more.
  seabios: '/usr/share/seabios/bios-256k.bin',
  ovmfCode: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  ovmfVars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
} as const;

// How the machine starts: SeaBIOS or OVMF.
export type BootFirmware = 'bios' | 'uefi';

// What the medium is plugged in as: a CD, a USB stick, or a disk on SATA (AHCI; `disk`), virtio-blk or NVMe.
export type BootMedia = 'cd' | 'usb' | 'disk' | 'virtio' | 'nvme';

// Every medium kind, in the order the CLI lists them.
export const BOOT_MEDIA: readonly BootMedia[] = ['cd', 'usb', 'disk', 'virtio', 'nvme'];

// The firmware; UEFI gets a fresh copy of the NVRAM store at `varsCopy` (OVMF writes its boot entries there).
export function bootFirmware(firmware: BootFirmware, varsCopy: string): QemuFirmware {
  if (firmware === 'bios') return { type: 'seabios', code: FIRMWARE_FILES.seabios };
  copyFileSync(FIRMWARE_FILES.ovmfVars, varsCopy);
  return { type: 'ovmf', code: FIRMWARE_FILES.ovmfCode, vars: varsCopy };
}

// The medium as the first boot device; writable media are snapshots unless `writable` (boot counting writes to them).
export function mediaDrive(file: string, media: BootMedia, writable = false): QemuDrive {
  const iface = ({ cd: 'cdrom', usb: 'usb', disk: 'ide', virtio: 'virtio', nvme: 'nvme' } as const)[media];
  return {
    file,
    format: 'raw',
    interface: iface,
    bootIndex: 0,
    ...(media === 'cd' || writable ? {} : { snapshot: true }),
  };
}
