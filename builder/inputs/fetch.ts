// Puts every pinned package into the content-addressed cache: from the cache itself, the machine's apt cache, or a
// download.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Progress } from '../pipeline/progress.ts';
import { type AptContext, createAptContext, fetchPackage, type PackagePin } from './apt.ts';
import type { ContentCache } from './cache.ts';
import { type LockedDebian, sourcesForLock } from './debian-sources.ts';

// How fetching went: how many pins were already cached and how many were brought in.
export interface FetchReport {
  cached: number;
  fetched: number;
  bytes: number;
}

// Makes sure each pin's .deb is in the cache under its sha256; a file with another hash is refused by name.
export async function fetchPins(
  pins: readonly PackagePin[],
  options: {
    cache: ContentCache;
    offline: boolean;
    progress: Progress;
    debian: LockedDebian;
    lockShown: string;
    aptSources?: string;
  },
): Promise<FetchReport> {
  const { cache, progress } = options;
  const missing = pins.filter((pin) => !cache.has(pin.sha256));
  const report: FetchReport = { cached: pins.length - missing.length, fetched: 0, bytes: 0 };
  if (missing.length === 0) return report;
  const total = missing.reduce((n, pin) => n + pin.size, 0);
  const task = progress.start(`fetching ${missing.length} package${missing.length === 1 ? '' : 's'}`, total, 'bytes');
  await mkdir(join(cache.root, 'apt-work'), { recursive: true });
  const workDir = await mkdtemp(join(cache.root, 'apt-work', 'fetch-'));
  try {
    let apt: AptContext | undefined;
    for (const pin of missing) {
      apt ??= await createAptContext({
        workDir,
        aptSources: await sourcesForLock(workDir, options.debian, options.aptSources, options.lockShown),
        offline: options.offline,
      });
      await fetchPackage(
        apt,
        pin,
        async (stream) => {
          const counted = (async function* () {
            for await (const chunk of stream as AsyncIterable<Buffer>) {
              task.advance(chunk.length);
              yield chunk;
            }
          })();
          await cache.putStream(counted, { expectedSha256: pin.sha256, label: `${pin.name} ${pin.version}` });
        },
        { offline: options.offline },
      );
      report.fetched += 1;
      report.bytes += pin.size;
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  task.done(
    `fetched ${report.fetched} package${report.fetched === 1 ? '' : 's'} (${(report.bytes / (1 << 20)).toFixed(1)} MiB)`,
  );
  return report;
}
