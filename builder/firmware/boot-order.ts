// A recipe's boot order (device kinds) as QEMU bootindex values, which QEMU hands SeaBIOS and OVMF as fw_cfg
// `bootorder`.
import type { QemuDrive } from '../../common/qemu/argv.ts';

// The device kinds a recipe's firmware.bootOrder names.
export type BootDeviceKind = 'disk' | 'cd' | 'usb' | 'network';

// The kind of device a drive is plugged in as.
export function driveKind(drive: QemuDrive): BootDeviceKind {
  return drive.interface === 'cdrom' ? 'cd' : drive.interface === 'usb' ? 'usb' : 'disk';
}

// Numbers the drives in the order's kinds (drives of one kind keep their own order); drives of unlisted kinds get no
// bootindex, so the firmware tries them only after the listed ones. An empty order leaves the drives as they are.
export function applyBootOrder(drives: readonly QemuDrive[], order: readonly string[]): QemuDrive[] {
  if (order.length === 0) return drives.map((d) => ({ ...d }));
  let next = 0;
  const index = new Map<number, number>();
  for (const kind of order) {
    drives.forEach((drive, i) => {
      if (driveKind(drive) === kind) index.set(i, next++);
    });
  }
  return drives.map((drive, i) => {
    const { bootIndex: _dropped, ...rest } = drive;
    return index.has(i) ? { ...rest, bootIndex: index.get(i)! } : rest;
  });
}
