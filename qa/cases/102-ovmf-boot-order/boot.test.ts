// Boot order from our varstore: two bootable disks (ESPs whose UKIs differ only in a command-line marker), plain OVMF,
// and a varstore our writer made with Boot0000/Boot0001 and BootOrder. OVMF starts whichever disk our order puts first.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeEsp } from '../../../builder/firmware/esp.ts';
import { presetVariables } from '../../../builder/firmware/preset.ts';
import { buildUki } from '../../../builder/firmware/uki.ts';
import { readVarstore, writeVarstore } from '../../../builder/firmware/varstore.ts';
import { buildHostImage } from '../../lib/host-image.ts';
import { firmwareBoot, pinnedFirmware } from '../101-secureboot-chain/firmware-boot.ts';

// The OVMF code of the pinned ovmf package (set in before).
let CODE = '';
const MARKER = { A: /Command line: .*mvos\.qa\.disk=A/, B: /Command line: .*mvos\.qa\.disk=B/ };
// The two ESPs sit at fixed PCI slots, so a boot entry can name each one's device path.
const SLOT = { A: 5, B: 6 };

let work = '';
const esp: Record<'A' | 'B', string> = { A: '', B: '' };

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'mvos-qa-102-'));
  CODE = (await pinnedFirmware())['ovmf-code'];
  const image = buildHostImage();
  for (const disk of ['A', 'B'] as const) {
    // No initramfs: the kernel prints its command line and then stops for want of a root, which is all this needs.
    const efi = join(work, `${disk}.efi`);
    await buildUki({ kernel: image.kernel, cmdline: `console=ttyS0,115200 panic=-1 mvos.qa.disk=${disk}` }, efi);
    esp[disk] = join(work, `${disk}.esp.img`);
    await makeEsp(esp[disk], { '/EFI/BOOT/BOOTX64.EFI': efi });
  }
});

test.after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function bootInOrder(first: 'A' | 'B', second: 'A' | 'B') {
  // The short form (the disk, no file): OVMF expands it to the disk's \EFI\BOOT\BOOTX64.EFI. A full path with the file
  // node was tried and OVMF answers "Not Found" for a FAT volume without a partition table.
  const entry = (disk: 'A' | 'B') => ({
    description: `mvos disk ${disk}`,
    devicePath: `PciRoot(0x0)/Pci(0x${SLOT[disk].toString(16)},0x0)`,
  });
  const variables = presetVariables({ timeout: 0, bootEntries: [entry(first), entry(second)] });
  const vars = join(work, `order-${first}${second}.vars.fd`);
  await writeFile(vars, writeVarstore(variables));
  assert.equal(readVarstore(readFileSync(vars)).variables, variables, 'our varstore reads back identically');
  return firmwareBoot({
    name: `102-boot-order-${first}${second}`,
    work,
    firmware: { type: 'ovmf', code: CODE, vars },
    disks: [
      { file: esp.A, addr: SLOT.A },
      { file: esp.B, addr: SLOT.B },
    ],
    markers: [MARKER.A, MARKER.B],
    timeoutS: 180,
  });
}

test('BootOrder B, A: OVMF starts disk B although A sits in the lower PCI slot', async () => {
  const result = await bootInOrder('B', 'A');
  assert.is(result.matched, MARKER.B.source);
  assert.match(result.log, /BdsDxe: starting Boot0000 "mvos disk B"/);
  console.log(`  order B,A: disk B's kernel after ${(result.ms / 1000).toFixed(1)} s`);
});

test('BootOrder A, B: OVMF starts disk A', async () => {
  const result = await bootInOrder('A', 'B');
  assert.is(result.matched, MARKER.A.source);
  assert.match(result.log, /BdsDxe: starting Boot0000 "mvos disk A"/);
  console.log(`  order A,B: disk A's kernel after ${(result.ms / 1000).toFixed(1)} s`);
});

test.run();
