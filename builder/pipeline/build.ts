// The build, read top-down as verb-named steps over one context: load, lock check, fetch, verify, …
import { relative } from 'node:path';
import { UserError } from '../errors.ts';
import type { ContentCache } from '../inputs/cache.ts';
import { fetchPins, type FetchReport } from '../inputs/fetch.ts';
import { allPins, assertLockMatchesRecipe } from '../inputs/lock.ts';
import { lockfilePath, readLockfile, type Lockfile } from '../inputs/lockfile.ts';
import { requireRecipe } from '../recipe/load.ts';
import type { Recipe } from '../recipe/types.ts';
import type { Progress } from './progress.ts';

// Everything a build step reads and writes.
export interface BuildContext {
  cwd: string;
  recipe: Recipe;
  lock: Lockfile;
  cache: ContentCache;
  progress: Progress;
  offline: boolean;
  aptSources?: string;
  fetched?: FetchReport;
  verifiedBytes?: number;
}

// Options of one build.
export interface BuildOptions {
  cwd: string;
  cache: ContentCache;
  progress: Progress;
  offline: boolean;
  aptSources?: string;
}

function load_recipe_and_lock(file: string, options: BuildOptions): BuildContext {
  const recipe = requireRecipe(file, options.cwd);
  const path = lockfilePath(recipe.file);
  const shown = relative(options.cwd, path);
  const lock = readLockfile(path);
  if (!lock) throw new UserError(`${shown} does not exist: the build takes its inputs only from a lockfile`, { hint: `run \`mvos lock ${file}\` first` });
  assertLockMatchesRecipe(recipe, lock, shown);
  return { ...options, recipe, lock };
}

async function fetch_inputs(ctx: BuildContext): Promise<void> {
  ctx.fetched = await fetchPins(allPins(ctx.lock), { cache: ctx.cache, offline: ctx.offline, progress: ctx.progress, aptSources: ctx.aptSources });
}

// Reading each blob through the verifying stream is what proves the cache was not altered since it was filled.
async function verify_inputs(ctx: BuildContext): Promise<void> {
  const pins = allPins(ctx.lock);
  const task = ctx.progress.start('verifying inputs', pins.reduce((n, p) => n + p.size, 0), 'bytes');
  let bytes = 0;
  for (const pin of pins) {
    for await (const chunk of ctx.cache.openRead(pin.sha256, `${pin.name} ${pin.version}`)) {
      bytes += (chunk as Buffer).length;
      task.advance((chunk as Buffer).length);
    }
  }
  ctx.verifiedBytes = bytes;
  task.done();
}

// Runs the build of one recipe and returns its context (what each step found and made).
export async function buildRecipe(file: string, options: BuildOptions): Promise<BuildContext> {
  const ctx = load_recipe_and_lock(file, options);
  await fetch_inputs(ctx);
  await verify_inputs(ctx);
  return ctx;
}
