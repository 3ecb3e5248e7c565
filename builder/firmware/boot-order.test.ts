import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { QemuDrive } from '../../common/qemu/argv.ts';
import { applyBootOrder } from './boot-order.ts';

const disk: QemuDrive = { file: '/disk.img', format: 'raw', interface: 'ide', bootIndex: 0 };
const cd: QemuDrive = { file: '/cd.iso', format: 'raw', interface: 'cdrom' };
const usb: QemuDrive = { file: '/usb.img', format: 'raw', interface: 'usb' };
const data: QemuDrive = { file: '/data.qcow2', format: 'qcow2', interface: 'virtio' };

const indexes = (drives: QemuDrive[]) => drives.map((d) => d.bootIndex);

test('the order of kinds numbers the drives; drives of one kind keep their order', () => {
  assert.equal(indexes(applyBootOrder([disk, cd, usb, data], ['cd', 'disk'])), [1, 0, undefined, 2]);
  assert.equal(indexes(applyBootOrder([disk, cd, usb, data], ['usb', 'disk', 'cd'])), [1, 3, 0, 2]);
});

test('an empty order keeps the bootindex the caller gave; a kind without a drive (network) is skipped', () => {
  assert.equal(indexes(applyBootOrder([disk, cd], [])), [0, undefined]);
  assert.equal(indexes(applyBootOrder([disk, cd], ['network', 'cd'])), [undefined, 0]);
});

test('the input drives are not changed', () => {
  const drives = [disk, cd];
  applyBootOrder(drives, ['cd', 'disk']);
  assert.is(disk.bootIndex, 0);
  assert.is(cd.bootIndex, undefined);
});

test.run();
