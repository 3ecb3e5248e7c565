// The guest kernel build's progress: a bar over kbuild's steps against the count the last build of the same kernel
// source made, its time for the estimate of what is left; this build's count and time are kept for the next one.
import type { ContentCache } from '../inputs/cache.ts';
import { isKbuildStep, kbuildNote } from '../kernel/kbuild.ts';
import type { Progress } from './progress.ts';
import { readStepHistory, writeStepHistory } from './step-history.ts';

// Runs build with a line handler that counts kbuild's steps into a task for the kernel-config folder `source`.
export async function withKernelBuildProgress<T extends { seconds: number }>(
  ctx: { cache: ContentCache; progress: Progress },
  source: string,
  build: (onLine: (line: string) => void) => Promise<T>,
): Promise<T> {
  const step = `kernel build ${source}`;
  const last = await readStepHistory(ctx.cache, step);
  const task = ctx.progress.start(step, last && last.count > 0 ? last.count : undefined, {
    noun: 'objects',
    expectedSeconds: last?.seconds,
  });
  let steps = 0;
  let built: T;
  try {
    built = await build((line) => {
      if (!isKbuildStep(line)) return;
      steps++;
      task.advance(1, kbuildNote(line));
    });
  } catch (error) {
    task.abort();
    throw error;
  }
  task.done();
  await writeStepHistory(ctx.cache, step, { count: steps, seconds: built.seconds });
  return built;
}
