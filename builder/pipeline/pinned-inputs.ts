// The inputs steps: every file the lockfile pins into the cache, then re-verified where its file changed since last
// time.
import { relative } from 'node:path';
import { type FetchReport, fetchPins } from '../inputs/fetch.ts';
import { allPins } from '../inputs/lock.ts';
import { readStamps, stampOf, writeStamps } from '../inputs/stamps.ts';
import type { BuildContext } from './build.ts';

// Downloads what the cache lacks (an error with --offline), each checked against its pinned sha256.
export function fetchInputs(ctx: BuildContext): Promise<FetchReport> {
  return fetchPins(allPins(ctx.lock), {
    cache: ctx.cache,
    offline: ctx.offline,
    progress: ctx.progress,
    aptSources: ctx.aptSources,
    debian: ctx.lock.debian,
    lockShown: relative(process.cwd(), ctx.lockPath),
  });
}

// Re-hashes every input whose file changed since it was last verified (size, mtime, ctime, inode); returns the bytes
// re-read.
export async function verifyInputs(ctx: BuildContext): Promise<number> {
  // Like git's index: any write to a cache file is caught, and a no-op build does not re-read hundreds of megabytes.
  const stamps = await readStamps(ctx.cache);
  const pins = allPins(ctx.lock).filter((pin) => stamps.get(pin.sha256) !== stampOf(ctx.cache, pin.sha256));
  if (pins.length === 0) return 0;
  const task = ctx.progress.start(
    'verifying inputs',
    pins.reduce((n, p) => n + p.size, 0),
    'bytes',
  );
  let bytes = 0;
  for (const pin of pins) {
    for await (const chunk of ctx.cache.openRead(pin.sha256, `${pin.name} ${pin.version}`)) {
      bytes += (chunk as Buffer).length;
      task.advance((chunk as Buffer).length);
    }
    stamps.set(pin.sha256, stampOf(ctx.cache, pin.sha256));
  }
  await writeStamps(ctx.cache, stamps);
  task.done();
  return bytes;
}
