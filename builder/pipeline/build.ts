// The build of one recipe, read top-down as verb-named steps passing values: load, check the host's tools, fetch and
// verify the inputs, build the images, make the media, write the outputs.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { UserError } from '../../common/errors.ts';
import type { ContentCache } from '../inputs/cache.ts';
import type { FetchReport } from '../inputs/fetch.ts';
import { assertLockMatchesRecipe } from '../inputs/lock.ts';
import { type Lockfile, lockfilePath, readLockfile } from '../inputs/lockfile.ts';
import { requireRecipe } from '../recipe/load.ts';
import type { Recipe } from '../recipe/types.ts';
import { type BuiltImage, buildImage } from './image.ts';
import { makeMedia } from './media.ts';
import { checkOutputTools } from './output-tools.ts';
import { fetchInputs, verifyInputs } from './pinned-inputs.ts';
import type { Progress } from './progress.ts';
import type { StageRecord } from './stage.ts';
import { writeOutputs } from './write-outputs.ts';

// Options of one build.
export interface BuildOptions {
  cwd: string;
  cache: ContentCache;
  progress: Progress;
  offline: boolean;
  aptSources?: string;
  imagesDir?: string;
  log?: (line: string) => void;
}

// What every step of one build reads: the recipe and its lockfile, where inputs and outputs live, where records and log
// lines go.
export interface BuildContext {
  recipe: Recipe;
  lock: Lockfile;
  lockPath: string;
  cache: ContentCache;
  progress: Progress;
  offline: boolean;
  aptSources: string | undefined;
  imagesDir: string;
  builder: string;
  stages: StageRecord[];
  log: (line: string) => void;
}

// What a build did, and where its outputs are.
export interface BuildResult {
  recipe: Recipe;
  stages: StageRecord[];
  fetched: FetchReport;
  verifiedBytes: number;
  outputDir: string;
  upToDate: boolean;
}

function builderVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `mvos ${pkg.version}`;
}

function loadRecipeAndLock(file: string, options: BuildOptions): BuildContext {
  const recipe = requireRecipe(file, options.cwd);
  const lockPath = lockfilePath(recipe.file);
  const shown = relative(options.cwd, lockPath);
  const lock = readLockfile(lockPath);
  if (!lock)
    throw new UserError(`${shown} does not exist: the build takes its inputs only from a lockfile`, {
      hint: `run \`mvos lock ${file}\` first`,
    });
  assertLockMatchesRecipe(recipe, lock, shown);
  return {
    recipe,
    lock,
    lockPath,
    cache: options.cache,
    progress: options.progress,
    offline: options.offline,
    aptSources: options.aptSources,
    imagesDir: options.imagesDir ?? join(options.cwd, 'images'),
    builder: builderVersion(),
    stages: [],
    log: options.log ?? (() => undefined),
  };
}

function buildImages(ctx: BuildContext): Promise<BuiltImage> {
  return buildImage(
    {
      cache: ctx.cache,
      lock: ctx.lock,
      progress: ctx.progress,
      sourceDateEpoch: ctx.lock.sourceDateEpoch,
      stages: ctx.stages,
      built: new Map(),
      log: ctx.log,
    },
    ctx.recipe,
  );
}

// Runs the build of one recipe.
export async function buildRecipe(file: string, options: BuildOptions): Promise<BuildResult> {
  const ctx = loadRecipeAndLock(file, options);
  await checkOutputTools(ctx.recipe);
  const fetched = await fetchInputs(ctx);
  const verifiedBytes = await verifyInputs(ctx);
  const image = await buildImages(ctx);
  const media = await makeMedia(ctx, image);
  const written = await writeOutputs(ctx, image, media);
  return {
    recipe: ctx.recipe,
    stages: ctx.stages,
    fetched,
    verifiedBytes,
    outputDir: written.dir,
    upToDate: written.upToDate,
  };
}
