// Writes images/<name>/ atomically: a build killed at any moment leaves the previous good output or nothing.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from '../../common/fsync.ts';

const tmpPrefix = '.tmp-';
const oldPrefix = '.old-';

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

// Replaces images/<name>/ with exactly these files: written and synced under a temporary name, then swapped in by
// renames.
export async function writeImageDir(imagesDir: string, name: string, files: Record<string, Buffer>): Promise<string> {
  await mkdir(imagesDir, { recursive: true });
  await recoverImageDirs(imagesDir);
  const final = join(imagesDir, name);
  const temp = join(imagesDir, `${tmpPrefix}${name}-${process.pid}`);
  await mkdir(temp);
  for (const file of Object.keys(files).sort()) {
    await writeFile(join(temp, file), files[file]!);
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
