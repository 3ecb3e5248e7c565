import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../common/exec.ts';
import { GPT_TYPES } from './gpt.ts';
import { isoDate, volumeId, writeIso } from './iso.ts';
import { fakeMediaInput } from './media-input.test-support.ts';

const input = fakeMediaInput();

test('isoDate and volumeId', () => {
  assert.is(isoDate(1700000000), '2023111422132000');
  assert.is(volumeId(input), 'TEST_HOST_AAAAAAAA');
});

test('the ISO has BIOS and UEFI El Torito entries, an MBR and a GPT with the ESP', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-iso-'));
  try {
    const file = join(dir, 'x.iso');
    writeFileSync(file, await writeIso(input));
    const run = await runTool('xorriso', [
      '-indev',
      file,
      '-report_el_torito',
      'plain',
      '-report_system_area',
      'plain',
    ]);
    // xorriso writes its info lines (the volume id among them) to stderr.
    const report = run.stdout + run.stderr;
    assert.match(report, /El Torito boot img :\s+1\s+BIOS/);
    assert.match(report, /El Torito boot img :\s+2\s+UEFI/);
    assert.match(report, /Volume id\s+: 'TEST_HOST_AAAAAAAA'/);
    assert.match(report, /GPT partname local :\s+2\s+Appended2/);
    const dump = (await runTool('sfdisk', ['-d', file])).stdout;
    assert.match(dump, /label: gpt/);
    // The ESP is sized to GRUB, not a fixed 4 MiB, and GRUB reads back whole from it.
    const esp = new RegExp(`start=\\s*(\\d+), size=\\s*(\\d+), type=${GPT_TYPES.esp.toUpperCase()}`).exec(dump)!;
    const copied = join(dir, 'BOOTX64.EFI');
    await runTool('mcopy', ['-n', '-i', `${file}@@${Number(esp[1]) * 512}`, '::/EFI/BOOT/BOOTX64.EFI', copied], {
      env: { MTOOLS_SKIP_CHECK: '1' },
    });
    const grub = readFileSync(copied).length;
    assert.ok(grub > 100_000, 'GRUB in the ESP');
    assert.ok(Number(esp[2]) * 512 <= grub + (128 << 10), `ESP of ${esp[2]} sectors for ${grub} bytes of GRUB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Secure Boot: the UEFI El Torito image holds the signed UKI, sized to fit it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-iso-'));
  try {
    const uki = Buffer.alloc(6 << 20, 'signed UKI ');
    const file = join(dir, 'x.iso');
    writeFileSync(file, await writeIso({ ...input, uki }));
    const dump = (await runTool('sfdisk', ['-d', file])).stdout;
    const start = Number(
      new RegExp(`start=\\s*(\\d+), size=\\s*\\d+, type=${GPT_TYPES.esp.toUpperCase()}`).exec(dump)![1],
    );
    const copied = join(dir, 'BOOTX64.EFI');
    await runTool('mcopy', ['-n', '-i', `${file}@@${start * 512}`, '::/EFI/BOOT/BOOTX64.EFI', copied], {
      env: { MTOOLS_SKIP_CHECK: '1' },
    });
    assert.ok(readFileSync(copied).equals(uki));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two writes give the same bytes', async () => {
  const a = await writeIso(input);
  await new Promise((r) => setTimeout(r, 1100));
  const b = await writeIso(input);
  assert.ok(a.equals(b), 'ISO images differ');
});

test.run();
