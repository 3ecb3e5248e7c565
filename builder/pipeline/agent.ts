// The agent stage: agent/main.ts and what it imports bundled into the one file the host runs, keyed by the files
// esbuild really read for the bundle (its metafile), so tests, test doubles and builder code outside the bundle never
// change the key.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { version as esbuildVersion } from 'esbuild';
import { type AgentBundle, bundleAgent } from '../agent/bundle.ts';
import { hashCode, hashFiles, repoRoot } from './sources.ts';
import { cachedStage, runLoggedStage, type StageInputs, type StageRunner, sha256 } from './stage.ts';

// The cache key under which the list of files the last bundle read is kept (a depfile, as compilers write for make).
export const LAST_INPUTS_KEY = 'agent: the files the last bundle read';

// The agent stage's inputs for a bundle made from `files` (paths relative to root), or undefined when one of them is
// gone.
export async function agentStageInputs(
  files: readonly string[],
  target: string,
  root = repoRoot,
): Promise<StageInputs | undefined> {
  if (!files.every((f) => existsSync(join(root, f)))) return undefined;
  return {
    files: hashFiles(files, root),
    target,
    // Pins the npm packages the bundle inlines without esbuild reading them as modules (xterm's assets) and esbuild
    // itself.
    lock: sha256(readFileSync(join(root, 'package-lock.json'))),
    esbuild: esbuildVersion,
    bundler: await hashCode(['builder/agent/bundle.ts']),
  };
}

async function lastBundleInputs(runner: StageRunner): Promise<string[] | undefined> {
  const blob = await runner.cache.getKey(LAST_INPUTS_KEY);
  return blob
    ? (JSON.parse((await runner.cache.read(blob, 'agent bundle inputs')).toString('utf8')) as string[])
    : undefined;
}

// The bundle (agent.mjs) for the image's Node (`target`, an esbuild target) as a cache blob; `bundle` makes it (tests
// count the calls).
export async function bundleAgentStage(
  runner: StageRunner,
  target: string,
  bundle: (target: string) => Promise<AgentBundle> = (t) => bundleAgent({ target: t }),
): Promise<string> {
  // The last bundle's files give the key without bundling: whatever could change the bundle edits one of them (a new
  // import is an edit of the file that imports it), and a stale list only costs one bundling, never a wrong key.
  const last = await lastBundleInputs(runner);
  const lastInputs = last && (await agentStageInputs(last, target));
  const cached = lastInputs && (await cachedStage(runner.cache, 'agent', lastInputs));
  if (cached) {
    runner.stages.push(cached);
    return cached.outputs['agent.mjs']!;
  }
  const made = await bundle(target);
  const inputs = await agentStageInputs(made.inputs, target);
  if (!inputs)
    throw new Error(
      `the agent bundle names inputs that do not exist: ${made.inputs.filter((f) => !existsSync(join(repoRoot, f))).join(', ')}`,
    );
  const record = await runLoggedStage(runner, 'agent', inputs, async () => ({
    'agent.mjs': made.code,
    'inputs.json': Buffer.from(JSON.stringify(made.inputs)),
  }));
  await runner.cache.setKey(LAST_INPUTS_KEY, record.outputs['inputs.json']!);
  return record.outputs['agent.mjs']!;
}
