// SeaBIOS follows the recipe: a CD and a disk that both boot (each a boot sector that prints its own marker on the
// serial port), attached disk first; the recipe's bootOrder (through bootindex → fw_cfg bootorder) decides which one
// starts, and its timeout becomes the boot menu wait (fw_cfg etc/boot-menu-wait). The pinned SeaBIOS from the lock does
// the booting.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyBootOrder } from '../../../builder/firmware/boot-order.ts';
import { menuWaitMs } from '../../../builder/firmware/vm.ts';
import { requireRecipe } from '../../../builder/recipe/load.ts';
import type { Recipe } from '../../../builder/recipe/types.ts';
import { runTool } from '../../../common/exec.ts';
import { type QemuDrive, qemuArgv } from '../../../common/qemu/argv.ts';
import { QemuRun } from '../../../common/qemu/runner.ts';
import { ARTIFACTS } from '../../lib/boot.ts';
import { pinnedFirmware } from '../101-secureboot-chain/firmware-boot.ts';

const MARKER = { cd: /MVOS-BOOT-CD/, disk: /MVOS-BOOT-DISK/ };
const recipe = requireRecipe(join(import.meta.dirname, 'guest.yaml'));

let work = '';
let bios = '';
const media: QemuDrive[] = [];

// 16-bit code loaded at 0:7C00 (MBR and El Torito no-emulation alike): DS=0, print the NUL-ended text at 0x7C16 to
// COM1, halt.
function bootSector(text: string): Buffer {
  const code = Buffer.concat([
    Buffer.from('FA31C08ED8BE167CBAF803AC84C07403EEEBF8F4EBFD', 'hex'),
    Buffer.from(`${text}\r\n\0`, 'latin1'),
  ]);
  const sector = Buffer.alloc(512);
  code.copy(sector);
  sector.writeUInt16LE(0xaa55, 510);
  return sector;
}

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'mvos-qa-103-'));
  bios = (await pinnedFirmware()).seabios;
  const disk = join(work, 'disk.img');
  await writeFile(disk, Buffer.concat([bootSector('MVOS-BOOT-DISK'), Buffer.alloc((1 << 20) - 512)]));
  const tree = join(work, 'cd');
  await mkdir(tree);
  await writeFile(join(tree, 'boot.bin'), Buffer.concat([bootSector('MVOS-BOOT-CD'), Buffer.alloc(1536)]));
  const cd = join(work, 'cd.iso');
  await runTool('xorriso', [
    '-as',
    'mkisofs',
    '-o',
    cd,
    '-b',
    'boot.bin',
    '-no-emul-boot',
    '-boot-load-size',
    '4',
    tree,
  ]);
  // The disk comes first on the bus: without a boot order SeaBIOS would start it.
  media.push(
    { file: disk, format: 'raw', interface: 'ide', snapshot: true },
    { file: cd, format: 'raw', interface: 'cdrom' },
  );
});

test.after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

// Boots the two media under the recipe's firmware settings until either marker; SeaBIOS's own log goes to its debug
// port.
async function boot(name: string, firmware: Recipe['firmware']) {
  const debug = join(work, `${name}.debug.log`);
  const argv = qemuArgv({
    machine: 'pc',
    accel: 'tcg',
    cpus: 1,
    memoryMiB: 64,
    firmware: { type: 'seabios', code: bios },
    bootMenuWaitMs: menuWaitMs(firmware),
    drives: applyBootOrder(media, firmware.bootOrder),
    serial: 'stdio',
    noReboot: true,
    extra: ['-chardev', `file,id=seabios,path=${debug}`, '-device', 'isa-debugcon,iobase=0x402,chardev=seabios'],
  });
  const run = await QemuRun.start({ argv, log: join(ARTIFACTS, `${name}.log`) });
  try {
    const ms = await run.waitFor(/MVOS-BOOT-(CD|DISK)/, 60_000);
    return { ms, log: run.output, debug: readFileSync(debug, 'utf8') };
  } finally {
    await run.stop();
  }
}

test("the recipe's order cd, disk: SeaBIOS starts the CD although the disk sits first, after the recipe's 3 s menu wait", async () => {
  assert.equal(recipe.firmware.bootOrder, ['cd', 'disk']);
  const slow = await boot('103-order-cd-disk', recipe.firmware);
  assert.match(slow.log, MARKER.cd);
  assert.not.match(slow.log, MARKER.disk);
  assert.match(
    slow.debug,
    /boot order:\n1: \/pci@i0cf8\/ide@1,1\/drive@0\/disk@1\n2: \/pci@i0cf8\/ide@1,1\/drive@0\/disk@0/,
  );
  assert.match(slow.debug, 'Press ESC for boot menu.');
  const fast = await boot('103-order-cd-disk-nowait', { ...recipe.firmware, timeout: 0 });
  assert.match(fast.log, MARKER.cd);
  assert.not.match(fast.debug, 'Press ESC for boot menu.', 'timeout 0: no menu');
  const waited = slow.ms - fast.ms;
  assert.ok(waited >= 2500 && waited < 8000, `the menu waited ${waited} ms, the recipe asks for 3000`);
  console.log(
    `  cd first: ${(fast.ms / 1000).toFixed(1)} s without a menu, ${(slow.ms / 1000).toFixed(1)} s with the 3 s menu wait`,
  );
});

test('the order reversed (disk, cd): SeaBIOS starts the disk (with no order it does too: the disk is first on the bus)', async () => {
  const result = await boot('103-order-disk-cd', { ...recipe.firmware, bootOrder: ['disk', 'cd'], timeout: 0 });
  assert.match(result.log, MARKER.disk);
  assert.not.match(result.log, MARKER.cd);
});

test.run();
