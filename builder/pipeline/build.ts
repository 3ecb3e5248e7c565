// The build, read top-down as verb-named steps over one context: load, lock check, fetch, verify, build images, write outputs.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { UserError } from '../errors.ts';
import type { ContentCache } from '../inputs/cache.ts';
import { fetchPins, type FetchReport } from '../inputs/fetch.ts';
import { allPins, assertLockMatchesRecipe } from '../inputs/lock.ts';
import { lockfilePath, readLockfile, type Lockfile } from '../inputs/lockfile.ts';
import { readStamps, stampOf, writeStamps } from '../inputs/stamps.ts';
import { requireRecipe } from '../recipe/load.ts';
import type { Recipe } from '../recipe/types.ts';
import { buildImage, type BuiltImage } from './image.ts';
import { buildManifest } from './manifest.ts';
import { writeImageDir } from './output.ts';
import type { Progress } from './progress.ts';
import { buildSbom } from './sbom.ts';
import { sha256, type StageRecord } from './stage.ts';

// Everything a build step reads and writes.
export interface BuildContext {
  cwd: string;
  recipe: Recipe;
  lock: Lockfile;
  lockPath: string;
  cache: ContentCache;
  progress: Progress;
  offline: boolean;
  aptSources?: string;
  imagesDir: string;
  builder: string;
  log: (line: string) => void;
  fetched?: FetchReport;
  verifiedBytes?: number;
  stages: StageRecord[];
  image?: BuiltImage;
  outputDir?: string;
  upToDate?: boolean;
}

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

function builderVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `mvos ${pkg.version}`;
}

function load_recipe_and_lock(file: string, options: BuildOptions): BuildContext {
  const recipe = requireRecipe(file, options.cwd);
  const lockPath = lockfilePath(recipe.file);
  const shown = relative(options.cwd, lockPath);
  const lock = readLockfile(lockPath);
  if (!lock) throw new UserError(`${shown} does not exist: the build takes its inputs only from a lockfile`, { hint: `run \`mvos lock ${file}\` first` });
  assertLockMatchesRecipe(recipe, lock, shown);
  return {
    ...options,
    recipe,
    lock,
    lockPath,
    imagesDir: options.imagesDir ?? join(options.cwd, 'images'),
    builder: builderVersion(),
    log: options.log ?? (() => undefined),
    stages: [],
  };
}

async function fetch_inputs(ctx: BuildContext): Promise<void> {
  ctx.fetched = await fetchPins(allPins(ctx.lock), { cache: ctx.cache, offline: ctx.offline, progress: ctx.progress, aptSources: ctx.aptSources });
}

// Re-hashes every input whose file changed since it was last verified (size, mtime, ctime, inode), like git's index: any
// write to a cache file is caught, and a no-op build does not re-read hundreds of megabytes.
async function verify_inputs(ctx: BuildContext): Promise<void> {
  const stamps = await readStamps(ctx.cache);
  const pins = allPins(ctx.lock).filter((pin) => stamps.get(pin.sha256) !== stampOf(ctx.cache, pin.sha256));
  if (pins.length === 0) return;
  const task = ctx.progress.start('verifying inputs', pins.reduce((n, p) => n + p.size, 0), 'bytes');
  let bytes = 0;
  for (const pin of pins) {
    for await (const chunk of ctx.cache.openRead(pin.sha256, `${pin.name} ${pin.version}`)) {
      bytes += (chunk as Buffer).length;
      task.advance((chunk as Buffer).length);
    }
    stamps.set(pin.sha256, stampOf(ctx.cache, pin.sha256));
  }
  ctx.verifiedBytes = bytes;
  await writeStamps(ctx.cache, stamps);
  task.done();
}

async function build_images(ctx: BuildContext): Promise<void> {
  ctx.image = await buildImage(
    { cache: ctx.cache, lock: ctx.lock, progress: ctx.progress, sourceDateEpoch: ctx.lock.sourceDateEpoch, stages: ctx.stages, built: new Map(), log: ctx.log },
    ctx.recipe,
  );
}

function sameFile(path: string, bytes: Buffer): boolean {
  if (!existsSync(path)) return false;
  const current = readFileSync(path);
  return current.length === bytes.length && createHash('sha256').update(current).digest('hex') === sha256(bytes);
}

async function write_outputs(ctx: BuildContext): Promise<void> {
  const image = ctx.image!;
  const files: Record<string, Buffer> = {
    vmlinuz: await ctx.cache.read(image.vmlinuz, `${image.recipe.name} kernel`),
    initrd: await ctx.cache.read(image.initrd, `${image.recipe.name} initrd`),
  };
  const described = Object.entries(files).map(([file, bytes]) => ({ file, sha256: sha256(bytes), size: bytes.length }));
  const sbom = Buffer.from(
    `${JSON.stringify(
      buildSbom({ name: image.recipe.name, version: image.recipe.version, sourceDateEpoch: ctx.lock.sourceDateEpoch, builder: ctx.builder, packages: image.inputs, files: described.map((d) => ({ name: d.file, sha256: d.sha256 })) }),
      null,
      2,
    )}\n`,
  );
  files['sbom.spdx.json'] = sbom;
  const outputs = [...described, { file: 'sbom.spdx.json', sha256: sha256(sbom), size: sbom.length }];
  const manifest = buildManifest({ image, lock: ctx.lock, lockSha256: sha256(readFileSync(ctx.lockPath)), lockPath: ctx.lockPath, builder: ctx.builder, stages: ctx.stages, outputs });
  files['manifest.json'] = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const dir = join(ctx.imagesDir, image.recipe.name);
  ctx.outputDir = dir;
  ctx.upToDate = Object.entries(files).every(([file, bytes]) => sameFile(join(dir, file), bytes));
  if (!ctx.upToDate) await writeImageDir(ctx.imagesDir, image.recipe.name, files);
}

// Runs the build of one recipe and returns its context (what each step found and made).
export async function buildRecipe(file: string, options: BuildOptions): Promise<BuildContext> {
  const ctx = load_recipe_and_lock(file, options);
  await fetch_inputs(ctx);
  await verify_inputs(ctx);
  await build_images(ctx);
  await write_outputs(ctx);
  return ctx;
}
