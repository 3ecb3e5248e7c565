// Writes images/<name>/ atomically: a build killed at any moment leaves the previous good output or nothing.
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from '../../common/fsync.ts';
import { writeSparse } from '../../common/sparse-write.ts';

const tmpPrefix = '.tmp-';
const oldPrefix = '.old-';
const BLOCK = 4 << 20;

// Clears what an interrupted write left: half-written folders go, and a previous output caught mid-swap is put back.
export async function recoverImageDirs(imagesDir: string): Promise<void> {
  if (!existsSync(imagesDir)) return;
  for (const entry of await readdir(imagesDir)) {
    if (entry.startsWith(tmpPrefix)) await rm(join(imagesDir, entry), { recursive: true, force: true });
  }
  for (const entry of await readdir(imagesDir)) {
    if (!entry.startsWith(oldPrefix)) continue;
    const name = entry.slice(oldPrefix.length).replace(/-\d+$/, '');
    if (existsSync(join(imagesDir, name))) await rm(join(imagesDir, entry), { recursive: true, force: true });
    else await rename(join(imagesDir, entry), join(imagesDir, name));
  }
}

// Writes a file in blocks (runs of zeros left as holes), telling onBytes of each: an ISO or disk image is hundreds of
// megabytes.
async function writeInBlocks(path: string, content: Buffer, onBytes?: (bytes: number) => void): Promise<void> {
  const file = await open(path, 'w');
  try {
    for (let offset = 0; offset < content.length; offset += BLOCK) {
      const block = content.subarray(offset, offset + BLOCK);
      await writeSparse(file, block, offset);
      onBytes?.(block.length);
    }
    await file.truncate(content.length);
  } finally {
    await file.close();
  }
}

// Replaces images/<name>/ with exactly these files: written and synced under a temporary name, then swapped in by
// renames; onBytes hears of every block written, for progress.
export async function writeImageDir(
  imagesDir: string,
  name: string,
  files: Record<string, Buffer>,
  onBytes?: (bytes: number) => void,
): Promise<string> {
  await mkdir(imagesDir, { recursive: true });
  await recoverImageDirs(imagesDir);
  const final = join(imagesDir, name);
  const temp = join(imagesDir, `${tmpPrefix}${name}-${process.pid}`);
  await mkdir(temp);
  for (const file of Object.keys(files).sort()) {
    await writeInBlocks(join(temp, file), files[file]!, onBytes);
    await fsyncPath(join(temp, file));
  }
  await fsyncPath(temp);
  const old = join(imagesDir, `${oldPrefix}${name}-${process.pid}`);
  if (existsSync(final)) await rename(final, old);
  await rename(temp, final);
  await fsyncPath(imagesDir);
  await rm(old, { recursive: true, force: true });
  return final;
}
