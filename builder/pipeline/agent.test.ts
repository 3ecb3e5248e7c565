import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isTestCode } from '../../common/boundary.ts';
import { bundleAgent } from '../agent/bundle.ts';
import { ContentCache } from '../inputs/cache.ts';
import { agentStageInputs, bundleAgentStage, LAST_INPUTS_KEY } from './agent.ts';
import { repoRoot } from './sources.ts';
import { type StageRecord, stageKey } from './stage.ts';

const bundle = await bundleAgent();
const dir = mkdtempSync(join(tmpdir(), 'mvos-agent-stage-'));

// The bundle's files, a test and a test double beside them, and the npm lockfile, copied into a folder of their own.
function copyOfInputs(): string {
  const root = mkdtempSync(join(dir, 'root-'));
  for (const file of [
    ...bundle.inputs,
    'agent/api/api.test.ts',
    'agent/fake-controls.test-support.ts',
    'package-lock.json',
  ]) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    copyFileSync(join(repoRoot, file), join(root, file));
  }
  return root;
}

test('the bundle reads no test and no test double', () => {
  assert.equal(
    bundle.inputs.filter((f) => isTestCode(f) && !f.startsWith('node_modules/')),
    [],
  );
});

test('the key comes from the bundled files alone: a changed test or test double keeps it, a changed bundled file changes it', async () => {
  const root = copyOfInputs();
  const key = async () => stageKey('agent', (await agentStageInputs(bundle.inputs, 'node20.19', root))!);
  const before = await key();
  writeFileSync(join(root, 'agent/api/api.test.ts'), 'a changed test\n');
  writeFileSync(join(root, 'agent/fake-controls.test-support.ts'), 'a changed test double\n');
  assert.is(await key(), before);
  writeFileSync(join(root, 'agent/main.ts'), `${readFileSync(join(root, 'agent/main.ts'), 'utf8')}\n`);
  assert.is.not(await key(), before);
  rmSync(join(root, 'agent/main.ts'));
  assert.is(await agentStageInputs(bundle.inputs, 'node20.19', root), undefined);
});

test('the next build finds the bundle by the files the last one read, without bundling; a stale list costs one bundling, not a wrong key', async () => {
  const cache = new ContentCache(join(dir, 'cache'));
  const runner = { cache, stages: [] as StageRecord[], log: () => undefined };
  let bundled = 0;
  const counting = async () => {
    bundled++;
    return bundle;
  };
  const blob = await bundleAgentStage(runner, 'node20.19', counting);
  assert.ok((await cache.read(blob, 'agent')).equals(bundle.code));
  assert.equal([await bundleAgentStage(runner, 'node20.19', counting), bundled], [blob, 1]);
  const stale = await cache.putBuffer(Buffer.from(JSON.stringify(['agent/no-longer-there.ts'])));
  await cache.setKey(LAST_INPUTS_KEY, stale.sha256);
  assert.equal([await bundleAgentStage(runner, 'node20.19', counting), bundled], [blob, 2]);
  assert.equal([await bundleAgentStage(runner, 'node20.19', counting), bundled], [blob, 2]);
  assert.equal(
    runner.stages.map((s) => s.ran),
    [true, false, false, false],
  );
  assert.equal(new Set(runner.stages.map((s) => s.key)).size, 1);
});

test('the Node version of the image is part of the key: another runtime gets its own bundle', async () => {
  const key = async (target: string) => stageKey('agent', (await agentStageInputs(bundle.inputs, target))!);
  assert.is.not(await key('node18'), await key('node20.19'));
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test.run();
