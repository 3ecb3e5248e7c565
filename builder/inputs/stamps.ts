// Verification stamps: which cache blobs were re-hashed, and the file state (size, mtime, inode) they had then.
import { statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { readJsonOr } from '../../common/files.ts';
import type { ContentCache } from './cache.ts';

function stampsPath(cache: ContentCache): string {
  return join(cache.root, 'verified.json');
}

// The state of a file now (size, mtime, ctime, inode); any write to the file changes it.
export function fileStamp(path: string): string {
  const stat = statSync(path, { bigint: true });
  return `${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}:${stat.ino}`;
}

// The file state of a cache blob now.
export function stampOf(cache: ContentCache, sha256: string): string {
  return fileStamp(cache.path(sha256));
}

// The stamps recorded so far (none when the file is missing or damaged: everything is re-hashed then).
export async function readStamps(cache: ContentCache): Promise<Map<string, string>> {
  try {
    return new Map(Object.entries(await readJsonOr<Record<string, string>>(stampsPath(cache), {})));
  } catch {
    return new Map();
  }
}

// Saves the stamps atomically.
export async function writeStamps(cache: ContentCache, stamps: Map<string, string>): Promise<void> {
  await mkdir(cache.root, { recursive: true });
  await writeFileAtomic(
    stampsPath(cache),
    JSON.stringify(Object.fromEntries([...stamps].sort(([a], [b]) => (a < b ? -1 : 1)))),
    { mode: 0o666 },
  );
}
