// The firmware's boot variables on a folder laid out as efivarfs: a Secure Boot host's slots get Boot#### options of
// their own beside the firmware's, BootNext tries one once, BootOrder keeps one, and the firmware's options stay.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GUIDS, guidBytes } from '../../common/efi/guid.ts';
import { encodeLoadOption, parseLoadOption, partitionFilePath } from '../../common/efi/load-option.ts';
import { EfiVars, sysfsPartition, UefiBoot } from './efi-boot.ts';
import { EspSlots } from './esp-slots.ts';

const ESP = { number: 2, start: 4096, size: 262144, guid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0' };
let root: string;
let vars: EfiVars;
let boot: UefiBoot;
const slots = () => new EspSlots(join(root, 'esp'), 'uki', '/dev/sda2');

function variable(name: string): Buffer | undefined {
  try {
    return readFileSync(join(root, 'efivars', `${name}-${GUIDS.globalVariable}`));
  } catch {
    return undefined;
  }
}

test.before.each(() => {
  root = mkdtempSync(join(tmpdir(), 'mvos-efi-'));
  mkdirSync(join(root, 'efivars'));
  vars = new EfiVars(join(root, 'efivars'));
  boot = new UefiBoot(vars, 'multiverse-host', async (device) => {
    assert.is(device, '/dev/sda2');
    return ESP;
  });
});

test.after.each(() => rmSync(root, { recursive: true, force: true }));

// The firmware's own option 0 (a disk it found), first in BootOrder.
async function firmwareOption(): Promise<void> {
  await vars.setOption(
    0,
    encodeLoadOption({ active: true, description: 'UEFI disk', filePathList: Buffer.from('7fff0400', 'hex') }),
  );
  await vars.setBootOrder([0]);
}

test('no options of ours yet: the firmware boots slot a (the removable-media path), nothing on trial', async () => {
  await firmwareOption();
  assert.equal(await boot.read(slots()), { boot_slot: 'a', try_slot: '', boot_tries: '0' });
});

test('a try: options for both slots, the running slot first in BootOrder, BootNext names the other', async () => {
  await firmwareOption();
  await boot.tryOnce(slots(), 'b');
  const a = parseLoadOption(variable('Boot0001')!.subarray(4));
  const b = parseLoadOption(variable('Boot0002')!.subarray(4));
  assert.is(a.description, 'Multiverse multiverse-host slot a');
  assert.equal(a.filePathList, partitionFilePath(ESP, '\\EFI\\BOOT\\BOOTX64.EFI'));
  assert.equal(b.filePathList, partitionFilePath(ESP, '\\boot\\b\\uki.efi'));
  assert.equal(await vars.bootOrder(), [1, 2, 0], "the firmware's option stays, after ours");
  assert.is(await vars.bootNext(), 2);
  assert.equal([...variable('BootNext')!], [7, 0, 0, 0, 2, 0], 'NV+BS+RT, then the option number');
  assert.equal(await boot.read(slots()), { boot_slot: 'a', try_slot: 'b', boot_tries: '0' });
});

test('keeping slot b puts it first; the options are found again, never made twice', async () => {
  await firmwareOption();
  await boot.tryOnce(slots(), 'b');
  rmSync(join(root, 'efivars', `BootNext-${GUIDS.globalVariable}`)); // the firmware deletes it as it boots
  await boot.keep(slots(), 'b');
  assert.equal(await vars.bootOrder(), [2, 1, 0]);
  assert.equal(await boot.read(slots()), { boot_slot: 'b', try_slot: '', boot_tries: '0' });
  await boot.tryOnce(slots(), 'a');
  assert.equal(await vars.bootOrder(), [2, 1, 0]);
  assert.is(await vars.bootNext(), 1);
  assert.equal((await vars.options()).size, 3);
});

test('an option of ours made inactive, or one for another partition, is not ours', async () => {
  const other = { ...ESP, guid: '11111111-2222-3333-4444-555555555555' };
  await vars.setOption(
    1,
    encodeLoadOption({
      active: true,
      description: 'x',
      filePathList: partitionFilePath(other, '\\EFI\\BOOT\\BOOTX64.EFI'),
    }),
  );
  await vars.setOption(
    2,
    encodeLoadOption({ active: false, description: 'y', filePathList: partitionFilePath(ESP, '\\boot\\b\\uki.efi') }),
  );
  await vars.setBootOrder([1, 2]);
  await boot.keep(slots(), 'a');
  assert.equal(await vars.bootOrder(), [0, 3, 1, 2]);
});

test('a variable that is no load option is left alone', async () => {
  writeFileSync(join(root, 'efivars', `Boot0000-${GUIDS.globalVariable}`), Buffer.from([7, 0, 0, 0, 1]));
  await boot.keep(slots(), 'a');
  assert.equal(await vars.bootOrder(), [1, 2]);
});

test('the partition: number and place in logical blocks from sysfs, its GUID from the GPT on the disk', async () => {
  const sys = join(root, 'sys');
  const disk = join(root, 'devices', 'sda');
  mkdirSync(join(disk, 'sda2'), { recursive: true });
  mkdirSync(join(disk, 'queue'));
  mkdirSync(sys);
  mkdirSync(join(root, 'dev'));
  symlinkSync(join(disk, 'sda2'), join(sys, 'sda2'));
  writeFileSync(join(disk, 'queue/logical_block_size'), '512\n');
  writeFileSync(join(disk, 'sda2/partition'), '2\n');
  writeFileSync(join(disk, 'sda2/start'), '4096\n');
  writeFileSync(join(disk, 'sda2/size'), '8192\n');
  // The primary GPT as the builder writes it: header at LBA 1, 128 entries of 128 bytes from LBA 2.
  const image = Buffer.alloc(34 * 512);
  image.write('EFI PART', 512, 'latin1');
  image.writeBigUInt64LE(2n, 512 + 72);
  image.writeUInt32LE(128, 512 + 80);
  image.writeUInt32LE(128, 512 + 84);
  guidBytes(ESP.guid).copy(image, 1024 + 128 + 16);
  image.fill(1, 1024 + 128, 1024 + 128 + 16);
  writeFileSync(join(root, 'dev', 'sda'), image);
  const dev = join(root, 'dev');
  assert.equal(await sysfsPartition('/dev/sda2', sys, dev), { number: 2, start: 4096, size: 8192, guid: ESP.guid });
  writeFileSync(join(disk, 'sda2/partition'), '3\n');
  const empty = await sysfsPartition('/dev/sda2', sys, dev).catch((e: Error) => e.message);
  assert.match(String(empty), /GPT entry 3 is empty/);
  writeFileSync(join(root, 'dev', 'sda'), Buffer.alloc(4096));
  const none = await sysfsPartition('/dev/sda2', sys, dev).catch((e: Error) => e.message);
  assert.match(String(none), /has no GPT/);
});

test.run();
