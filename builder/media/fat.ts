// FAT images written with mtools on a plain file: no loop mounts, no root; serial and dates fixed so the bytes repeat.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../../common/exec.ts';

// The Debian package of mformat, mmd and mcopy.
export const FAT_PACKAGES = ['mtools'] as const;

// What goes into one FAT image.
export interface FatSpec {
  // May be a fraction (the ISO's El Torito image is sized in 64 KiB steps); the image is whole KiB.
  sizeMiB: number;
  label: string;
  // Volume serial, 8 hex digits.
  serial: string;
  // FAT32 needs at least 33 MiB (65525 clusters of one sector); below that mformat picks FAT12/16.
  fat32: boolean;
  sourceDateEpoch: number;
  // Path inside the image (forward slashes, no leading slash) → content.
  files: Record<string, Buffer>;
}

// Builds the image and returns its bytes; folders are made parent-first and files copied in sorted order.
export async function makeFat(spec: FatSpec): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-fat-'));
  // mtools takes every timestamp from SOURCE_DATE_EPOCH (checked with mtools 4.0.32), and skips its sanity check of the
  // new image.
  const env = { SOURCE_DATE_EPOCH: String(spec.sourceDateEpoch), MTOOLS_SKIP_CHECK: '1' };
  try {
    const image = join(dir, 'fat.img');
    await writeFile(image, Buffer.alloc(0));
    await runTool('truncate', ['-s', `${Math.ceil(spec.sizeMiB * 1024)}K`, image]);
    await runTool('mformat', ['-i', image, ...(spec.fat32 ? ['-F'] : []), '-N', spec.serial, '-v', spec.label, '::'], {
      env,
    });
    const paths = Object.keys(spec.files).sort();
    const dirs = new Set<string>();
    for (const path of paths) {
      const parts = path.split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
    for (const d of [...dirs].sort()) await runTool('mmd', ['-i', image, `::/${d}`], { env });
    for (const [i, path] of paths.entries()) {
      const source = join(dir, `f${i}`);
      await writeFile(source, spec.files[path]!);
      await runTool('mcopy', ['-i', image, source, `::/${path}`], { env });
      await rm(source);
    }
    return await readFile(image);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
