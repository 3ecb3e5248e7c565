// Stages with content keys: a stage's key is the hash of everything it reads; its outputs are cache blobs found by that
// key.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import type { ContentCache } from '../inputs/cache.ts';
import type { Progress, ProgressTask } from './progress.ts';
import { readStepHistory, writeStepHistory } from './step-history.ts';

// Bumped when a stage's output format changes, so old cache entries are not reused.
export const stageFormatVersion = 1;

// What a stage read, by name → a hash or short value; the key is derived from this.
export type StageInputs = Record<string, string>;

// What happened to one stage in a build, for the log and the manifest.
export interface StageRecord {
  stage: string;
  key: string;
  outputs: Record<string, string>;
  ran: boolean;
  reason: string;
  seconds: number;
}

// sha256 of a buffer or string, hex.
export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

// The key of a stage: its name, the format version and its inputs in sorted order.
export function stageKey(stage: string, inputs: StageInputs): string {
  const sorted = Object.keys(inputs)
    .sort()
    .map((k) => [k, inputs[k]]);
  return sha256(JSON.stringify({ stage, v: stageFormatVersion, inputs: sorted }));
}

function lastInputsPath(cache: ContentCache, stage: string): string {
  return join(cache.root, 'stages', `${sha256(stage).slice(0, 32)}.json`);
}

// Says which inputs changed since this stage last ran (kept per stage name beside the cache), for the log.
export function changedInputs(cache: ContentCache, stage: string, inputs: StageInputs): string {
  const path = lastInputsPath(cache, stage);
  if (!existsSync(path)) return 'first build';
  let previous: StageInputs;
  try {
    previous = JSON.parse(readFileSync(path, 'utf8')) as StageInputs;
  } catch {
    return 'no record of the last run';
  }
  const names = new Set([...Object.keys(previous), ...Object.keys(inputs)]);
  const changed = [...names].filter((n) => previous[n] !== inputs[n]).sort();
  return changed.length ? `changed: ${changed.join(', ')}` : 'outputs missing from the cache';
}

async function rememberInputs(cache: ContentCache, stage: string, inputs: StageInputs): Promise<void> {
  const path = lastInputsPath(cache, stage);
  await mkdir(join(cache.root, 'stages'), { recursive: true });
  await writeFileAtomic(path, JSON.stringify(inputs, null, 1), { mode: 0o666 });
}

// The record of a stage whose outputs are all in the cache under the key of these inputs, or undefined.
export async function cachedStage(
  cache: ContentCache,
  stage: string,
  inputs: StageInputs,
): Promise<StageRecord | undefined> {
  const key = stageKey(stage, inputs);
  const started = Date.now();
  const index = await cache.getKey(key);
  if (!index || !cache.has(index)) return undefined;
  const outputs = JSON.parse((await cache.read(index, `stage ${stage} index`)).toString('utf8')) as Record<
    string,
    string
  >;
  if (!Object.values(outputs).every((h) => cache.has(h))) return undefined;
  for (const blob of Object.values(outputs)) await cache.touch(blob);
  return { stage, key, outputs, ran: false, reason: 'cached', seconds: (Date.now() - started) / 1000 };
}

// Runs a stage unless its outputs are cached under its key; returns the output blob hashes either way.
export async function runStage(
  cache: ContentCache,
  stage: string,
  inputs: StageInputs,
  produce: () => Promise<Record<string, Buffer>>,
): Promise<StageRecord> {
  const started = Date.now();
  const cached = await cachedStage(cache, stage, inputs);
  if (cached) return cached;
  const key = stageKey(stage, inputs);
  const reason = changedInputs(cache, stage, inputs);
  const produced = await produce();
  const outputs: Record<string, string> = {};
  for (const name of Object.keys(produced).sort()) {
    outputs[name] = (await cache.putBuffer(produced[name]!, { label: `${stage} ${name}` })).sha256;
  }
  const stored = await cache.putBuffer(Buffer.from(JSON.stringify(outputs)), { label: `stage ${stage} index` });
  await cache.setKey(key, stored.sha256);
  await rememberInputs(cache, stage, inputs);
  return { stage, key, outputs, ran: true, reason, seconds: (Date.now() - started) / 1000 };
}

// Where a build keeps its stage records and log lines, and shows a running stage's progress.
export interface StageRunner {
  cache: ContentCache;
  stages: StageRecord[];
  log: (line: string) => void;
  progress?: Progress;
}

// runStage, with the record kept in the build and the log saying what ran and why (cached stages stay quiet); while one
// runs, its elapsed time and, from its last run, the time left show under the log.
export async function runLoggedStage(
  runner: StageRunner,
  name: string,
  inputs: StageInputs,
  produce: () => Promise<Record<string, Buffer>>,
): Promise<StageRecord> {
  let task: ProgressTask | undefined;
  let record: StageRecord;
  try {
    record = await runStage(runner.cache, name, inputs, async () => {
      runner.log(`stage ${name}: running`);
      if (runner.progress) {
        const last = await readStepHistory(runner.cache, `stage ${name}`);
        task = runner.progress.start(`stage ${name}`, undefined, { expectedSeconds: last?.seconds, transient: true });
      }
      return produce();
    });
  } finally {
    task?.abort();
  }
  runner.stages.push(record);
  if (record.ran) {
    if (runner.progress) await writeStepHistory(runner.cache, `stage ${name}`, { count: 0, seconds: record.seconds });
    runner.log(`stage ${name}: ran in ${record.seconds.toFixed(1)} s (${record.reason})`);
  }
  return record;
}
