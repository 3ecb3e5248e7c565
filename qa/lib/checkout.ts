// A second checkout of this repository at another path, and a cache seeded with only what a cold build may reuse.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ContentCache } from '../../builder/inputs/cache.ts';
import { repoRoot } from './host-image.ts';

// Copies the files git tracks (plus uncommitted edits to them) into dest; node_modules is linked, not copied.
export function copyCheckout(dest: string): string {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: repoRoot,
    encoding: 'utf8',
  })
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(dest, file)), { recursive: true });
    try {
      copyFileSync(join(repoRoot, file), join(dest, file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(dest, 'node_modules'));
  return dest;
}

// A new cache with the locked package files and, optionally, some stages' outputs (by stage key) copied from the user's
// cache.
export async function seedCache(
  root: string,
  lock: { packages: Record<string, { sha256: string }> },
  stageKeys: string[] = [],
): Promise<ContentCache> {
  const from = ContentCache.fromEnvironment();
  const to = new ContentCache(root);
  const copy = (sha: string): void => {
    mkdirSync(dirname(to.path(sha)), { recursive: true });
    copyFileSync(from.path(sha), to.path(sha));
  };
  for (const pin of Object.values(lock.packages)) copy(pin.sha256);
  for (const key of stageKeys) {
    const index = await from.getKey(key);
    if (!index) throw new Error(`stage ${key} is not in ${from.root}: build once first`);
    copy(index);
    for (const sha of Object.values(
      JSON.parse((await from.read(index, 'stage index')).toString()) as Record<string, string>,
    ))
      copy(sha);
    await to.setKey(key, index);
  }
  return to;
}
