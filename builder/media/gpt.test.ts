import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { guidBytes } from '../../common/efi/guid.ts';
import { runTool } from '../../common/exec.ts';
import { GPT_TYPES, type GptDisk, guidFrom, SECTOR, usableSectors, writeGpt } from './gpt.ts';

const disk: GptDisk = {
  sectors: 8192,
  guid: guidFrom('disk'),
  partitions: [
    { name: 'BIOS boot', type: GPT_TYPES.biosBoot, guid: guidFrom('p1'), first: 2048, last: 4095 },
    { name: 'EFI system', type: GPT_TYPES.esp, guid: guidFrom('p2'), first: 4096, last: 8191 - 33 },
  ],
};

test('guidFrom is stable and has the version-4 bits', () => {
  assert.is(guidFrom('x'), guidFrom('x'));
  assert.match(guidFrom('x'), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.is(guidBytes('c12a7328-f81f-11d2-ba4b-00a0c93ec93b').toString('hex'), '28732ac11ff8d211ba4b00a0c93ec93b');
});

test('usable sectors leave room for both entry arrays', () => {
  assert.equal(usableSectors(8192), { first: 34, last: 8158 });
});

test('partitions outside the usable range are refused', () => {
  assert.throws(
    () => writeGpt({ ...disk, partitions: [{ ...disk.partitions[0]!, last: 8190 }] }, Buffer.alloc(8192 * SECTOR)),
    /outside/,
  );
});

test('sgdisk verifies the table and sfdisk reads the partitions back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-gpt-'));
  try {
    const image = Buffer.alloc(disk.sectors * SECTOR);
    writeGpt(disk, image);
    const file = join(dir, 'disk.raw');
    writeFileSync(file, image);
    const verify = await runTool('sgdisk', ['-v', file]);
    assert.match(verify.stdout, /No problems found/);
    const dump = (await runTool('sfdisk', ['-d', file])).stdout;
    assert.match(dump, /label: gpt/);
    assert.match(dump, new RegExp(`label-id: ${disk.guid.toUpperCase()}`));
    assert.match(
      dump,
      new RegExp(
        `start=\\s*2048, size=\\s*2048, type=${GPT_TYPES.biosBoot.toUpperCase()}, uuid=${disk.partitions[0]!.guid.toUpperCase()}, name="BIOS boot"`,
      ),
    );
    assert.match(dump, new RegExp(`start=\\s*4096, size=\\s*4063, type=${GPT_TYPES.esp.toUpperCase()}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
