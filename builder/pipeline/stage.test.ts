import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ContentCache } from '../inputs/cache.ts';
import type { Progress } from './progress.ts';
import { runLoggedStage, runStage, type StageRecord, stageKey } from './stage.ts';

const cache = new ContentCache(mkdtempSync(join(tmpdir(), 'mvos-stage-')));

test('keys depend on every input and not on their order', () => {
  assert.is(stageKey('s', { a: '1', b: '2' }), stageKey('s', { b: '2', a: '1' }));
  assert.is.not(stageKey('s', { a: '1', b: '2' }), stageKey('s', { a: '1', b: '3' }));
  assert.is.not(stageKey('s', { a: '1' }), stageKey('t', { a: '1' }));
});

test('a stage runs once per key, then comes from the cache; a changed input reruns it and says which', async () => {
  let runs = 0;
  const produce = async () => {
    runs++;
    return { out: Buffer.from(`run ${runs}`) };
  };
  const first = await runStage(cache, 'demo', { overlay: 'aaa', lock: 'x' }, produce);
  assert.equal([first.ran, first.reason], [true, 'first build']);
  const second = await runStage(cache, 'demo', { overlay: 'aaa', lock: 'x' }, produce);
  assert.equal([second.ran, second.reason, runs], [false, 'cached', 1]);
  assert.equal(second.outputs, first.outputs);
  assert.is((await cache.read(second.outputs.out!, 'out')).toString(), 'run 1');
  const third = await runStage(cache, 'demo', { overlay: 'bbb', lock: 'x' }, produce);
  assert.equal([third.ran, third.reason, runs], [true, 'changed: overlay', 2]);
});

test('a running stage shows a transient task, with the time of its last run once there is one; a cached one shows none', async () => {
  const calls: unknown[][] = [];
  const progress: Progress = {
    start(label, total, options) {
      calls.push(['start', label, total, options]);
      return { advance: () => undefined, done: () => calls.push(['done']), abort: () => calls.push(['abort']) };
    },
    line: () => undefined,
  };
  const log: string[] = [];
  const runner = { cache, stages: [] as StageRecord[], log: (line: string) => log.push(line), progress };
  const produce = async () => ({ out: Buffer.from(String(calls.length)) });
  await runLoggedStage(runner, 'shown', { a: '1' }, produce);
  assert.equal(calls, [
    ['start', 'stage shown', undefined, { expectedSeconds: undefined, transient: true }],
    ['abort'],
  ]);
  await runLoggedStage(runner, 'shown', { a: '1' }, produce);
  assert.is(calls.length, 2, 'cached: no task');
  await runLoggedStage(runner, 'shown', { a: '2' }, produce);
  const again = calls[2]![3] as { expectedSeconds?: number };
  assert.type(again.expectedSeconds, 'number', 'the last run gives the estimate');
  try {
    await runLoggedStage(runner, 'shown', { a: '3' }, async () => {
      throw new Error('tool failed');
    });
    assert.unreachable();
  } catch (error) {
    assert.is((error as Error).message, 'tool failed');
  }
  assert.equal(calls.at(-1), ['abort'], 'a failed stage ends its task too');
  assert.equal(log.filter((l) => l.includes('running')).length, 3);
});

test.run();
