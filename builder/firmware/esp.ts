// A whole-disk FAT EFI system partition image filled with mtools (no mounting, no partition table: OVMF reads it as a
// bare volume).
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { runTool } from '../../common/exec.ts';

// Writes `out` as a FAT32 volume holding each file at its ESP path (e.g. `/EFI/BOOT/BOOTX64.EFI`), sized to fit with
// room to spare.
export async function makeEsp(out: string, files: Record<string, string>): Promise<void> {
  const payload = Object.values(files).reduce((sum, f) => sum + statSync(f).size, 0);
  const mib = Math.max(64, Math.ceil((payload * 1.1) / (1 << 20)) + 16);
  await rm(out, { force: true });
  // 64 heads × 32 sectors: a geometry mformat accepts for any size in MiB; a fixed serial keeps the image reproducible.
  await runTool('mformat', [
    '-C',
    '-F',
    '-i',
    out,
    '-T',
    String(mib * 2048),
    '-h',
    '64',
    '-s',
    '32',
    '-N',
    '4d564f53',
    '-v',
    'MVOS-ESP',
    '::',
  ]);
  const made = new Set<string>();
  for (const [path, source] of Object.entries(files)) {
    const parts = dirname(path).split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const dir = `::/${parts.slice(0, i).join('/')}`;
      if (made.has(dir)) continue;
      await runTool('mmd', ['-i', out, dir]);
      made.add(dir);
    }
    await runTool('mcopy', ['-i', out, '-m', source, `::${path}`]);
  }
}
