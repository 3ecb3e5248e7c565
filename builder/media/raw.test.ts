import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../common/exec.ts';
import { GPT_TYPES, guidFrom } from './gpt.ts';
import { mediaTag } from './input.ts';
import { fakeMediaInput } from './media-input.test-support.ts';
import { ESP_LABEL, writeRaw } from './raw.ts';

const input = fakeMediaInput();

test('the raw disk has a valid GPT, GRUB in the MBR and BIOS boot partition, and the ESP with everything to boot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-raw-'));
  try {
    const image = await writeRaw(input);
    const file = join(dir, 'disk.raw');
    writeFileSync(file, image);
    assert.match((await runTool('sgdisk', ['-v', file])).stdout, /No problems found/);
    const dump = (await runTool('sfdisk', ['-d', file])).stdout;
    assert.match(dump, new RegExp(`label-id: ${guidFrom(`${input.id}:disk`).toUpperCase()}`));
    assert.match(dump, new RegExp(`start=\\s*2048, size=\\s*2048, type=${GPT_TYPES.biosBoot.toUpperCase()}`));
    assert.match(
      dump,
      new RegExp(
        `start=\\s*4096, size=\\s*131072, type=${GPT_TYPES.esp.toUpperCase()}, uuid=${guidFrom(`${input.id}:esp`).toUpperCase()}, name="${ESP_LABEL}"`,
      ),
    );
    // GRUB's boot.img starts with a jump and carries "GRUB " in its message strings.
    assert.ok(image.subarray(0, 440).includes(Buffer.from('GRUB ')));
    assert.is(image.readUInt16LE(510), 0xaa55);
    const esp = `${file}@@${4096 * 512}`;
    const listing = (await runTool('mdir', ['-/', '-b', '-i', esp, '::'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout;
    for (const path of [
      'EFI/BOOT/BOOTX64.EFI',
      'boot/a/vmlinuz',
      'boot/a/initrd',
      'boot/a/slot.cfg',
      'boot/grub/grub.cfg',
      'boot/grub/grubenv',
      mediaTag(input),
    ]) {
      assert.ok(
        listing.toUpperCase().includes(`::/${path}`.toUpperCase()),
        `${path} missing from the ESP:\n${listing}`,
      );
    }
    const env = (await runTool('mtype', ['-i', esp, '::/boot/grub/grubenv'])).stdout;
    assert.is(env.length, 1024);
    assert.match(env, /^# GRUB Environment Block\nboot_tries=0\nboot_slot=a\ntry_slot=\n#/);
    assert.match((await runTool('minfo', ['-i', esp, '::'])).stdout, /serial number: [0-9A-F]{8}/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Secure Boot: the UEFI path is the signed UKI (BOOTX64.EFI); BIOS keeps GRUB with the kernel and initrd beside it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-raw-'));
  try {
    const uki = Buffer.from('MZ a signed unified kernel image '.repeat(3000));
    const file = join(dir, 'disk.raw');
    const image = await writeRaw({ ...input, uki });
    writeFileSync(file, image);
    const esp = `${file}@@${4096 * 512}`;
    const copied = join(dir, 'BOOTX64.EFI');
    await runTool('mcopy', ['-n', '-i', esp, '::/EFI/BOOT/BOOTX64.EFI', copied], { env: { MTOOLS_SKIP_CHECK: '1' } });
    assert.ok(readFileSync(copied).equals(uki));
    assert.ok(image.subarray(0, 440).includes(Buffer.from('GRUB ')), 'BIOS still boots GRUB');
    const cfg = (await runTool('mtype', ['-i', esp, '::/boot/grub/grub.cfg'], { env: { MTOOLS_SKIP_CHECK: '1' } }))
      .stdout;
    assert.match(cfg, 'linux /boot/$slot/vmlinuz');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two writes give the same bytes; another payload gives other GUIDs', async () => {
  const a = await writeRaw(input);
  await new Promise((r) => setTimeout(r, 1100));
  const b = await writeRaw(input);
  assert.ok(a.equals(b), 'raw images differ');
  const c = await writeRaw(fakeMediaInput('1'));
  assert.not.ok(a.subarray(512, 1024).equals(c.subarray(512, 1024)));
});

test.run();
