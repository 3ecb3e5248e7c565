import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ContentCache } from '../inputs/cache.ts';
import { runStage, stageKey } from './stage.ts';

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

test.run();
