// What a long step counted and how long it took when it last ran, kept beside the cache so the next run's progress can
// show a percentage and the time left. It sits outside the blobs: `mvos cache gc` drops a built kernel (and so causes
// the rebuild these numbers help with) but keeps them.
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { readTextIfExists } from '../../common/files.ts';
import type { ContentCache } from '../inputs/cache.ts';

// One run of a step: what it counted (kbuild steps for a kernel build; 0 where it counts nothing) and its seconds.
export interface StepHistory {
  count: number;
  seconds: number;
}

function historyPath(cache: ContentCache, step: string): string {
  return join(cache.root, 'history', `${createHash('sha256').update(step).digest('hex').slice(0, 32)}.json`);
}

// The step's last run, or undefined when none was recorded or the record is unreadable: it only feeds an estimate.
export async function readStepHistory(cache: ContentCache, step: string): Promise<StepHistory | undefined> {
  const text = await readTextIfExists(historyPath(cache, step)).catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const { count, seconds } = JSON.parse(text) as Partial<StepHistory>;
    const valid = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
    return valid(count) && valid(seconds) ? { count, seconds } : undefined;
  } catch {
    return undefined;
  }
}

// Records this run of the step in place of the last one.
export async function writeStepHistory(cache: ContentCache, step: string, history: StepHistory): Promise<void> {
  await mkdir(join(cache.root, 'history'), { recursive: true });
  const record = { step, count: history.count, seconds: Math.round(history.seconds * 10) / 10 };
  await writeFileAtomic(historyPath(cache, step), `${JSON.stringify(record)}\n`, { mode: 0o644, durable: false });
}
