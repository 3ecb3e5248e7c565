import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../../common/temp-dir.ts';
import { ContentCache } from '../inputs/cache.ts';
import { withKernelBuildProgress } from './kernel-progress.ts';
import type { Progress, ProgressUnit, TaskOptions } from './progress.ts';
import { readStepHistory, writeStepHistory } from './step-history.ts';

// A Progress that records what it is asked to show.
function recorder() {
  const calls: unknown[][] = [];
  const progress: Progress = {
    start(label: string, total?: number, options?: ProgressUnit | TaskOptions) {
      calls.push(['start', label, total, options]);
      return {
        advance: (amount: number, note?: string) => calls.push(['advance', amount, note]),
        done: () => calls.push(['done']),
        abort: () => calls.push(['abort']),
      };
    },
    line: () => undefined,
  };
  return { calls, progress };
}

const OUTPUT = ['  HOSTCC  scripts/basic/fixdep', '#', '  CC      kernel/fork.o', 'a warning', '  LD      vmlinux.o'];

test('a first build counts kbuild steps with no total; the next takes its total and time from it', async () => {
  await withTempDir('mvos-kernel-progress-', async (dir) => {
    const cache = new ContentCache(dir);
    const build = async (onLine: (line: string) => void) => {
      for (const line of OUTPUT) onLine(line);
      return { seconds: 251.26 };
    };
    const first = recorder();
    await withKernelBuildProgress({ cache, progress: first.progress }, 'guest-tiny', build);
    assert.equal(first.calls, [
      ['start', 'kernel build guest-tiny', undefined, { noun: 'objects', expectedSeconds: undefined }],
      ['advance', 1, 'HOSTCC scripts/basic/fixdep'],
      ['advance', 1, 'CC kernel/fork.o'],
      ['advance', 1, 'LD vmlinux.o'],
      ['done'],
    ]);
    assert.equal(await readStepHistory(cache, 'kernel build guest-tiny'), { count: 3, seconds: 251.3 });
    const second = recorder();
    await withKernelBuildProgress({ cache, progress: second.progress }, 'guest-tiny', build);
    assert.equal(second.calls[0], ['start', 'kernel build guest-tiny', 3, { noun: 'objects', expectedSeconds: 251.3 }]);
    const other = recorder();
    await withKernelBuildProgress({ cache, progress: other.progress }, 'guest-other', build);
    assert.is(other.calls[0]![2], undefined, 'another kernel source has its own record');
  });
});

test('a failed build ends its task without a done line and records nothing', async () => {
  await withTempDir('mvos-kernel-progress-', async (dir) => {
    const cache = new ContentCache(dir);
    await writeStepHistory(cache, 'kernel build guest-tiny', { count: 5400, seconds: 250 });
    const { calls, progress } = recorder();
    const failing = async (onLine: (line: string) => void) => {
      onLine('  CC      kernel/fork.o');
      throw new Error('make exited with 2');
    };
    try {
      await withKernelBuildProgress({ cache, progress }, 'guest-tiny', failing);
      assert.unreachable('the build failed');
    } catch (error) {
      assert.is((error as Error).message, 'make exited with 2');
    }
    assert.equal(calls.at(-1), ['abort']);
    assert.equal(await readStepHistory(cache, 'kernel build guest-tiny'), { count: 5400, seconds: 250 });
  });
});

test('a missing or damaged record is no record', async () => {
  await withTempDir('mvos-kernel-progress-', async (dir) => {
    const cache = new ContentCache(dir);
    assert.is(await readStepHistory(cache, 'kernel build guest-tiny'), undefined);
    await writeStepHistory(cache, 'kernel build guest-tiny', { count: 5400, seconds: 250 });
    const [file] = await readdir(join(dir, 'history'));
    await writeFile(join(dir, 'history', file!), '{"count": "many"');
    assert.is(await readStepHistory(cache, 'kernel build guest-tiny'), undefined);
    await writeFile(join(dir, 'history', file!), '{"count": -1, "seconds": 3}');
    assert.is(await readStepHistory(cache, 'kernel build guest-tiny'), undefined);
  });
});

test.run();
