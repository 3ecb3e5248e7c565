// The build, read top-down as verb-named steps over one context: load, lock check, fetch, verify, build images, write outputs.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { UserError } from '../../common/errors.ts';
import type { ContentCache } from '../inputs/cache.ts';
import { fetchPins, type FetchReport } from '../inputs/fetch.ts';
import { allPins, assertLockMatchesRecipe } from '../inputs/lock.ts';
import { lockfilePath, readLockfile, type Lockfile } from '../inputs/lockfile.ts';
import { fileStamp, readStamps, stampOf, writeStamps } from '../inputs/stamps.ts';
import { isMedium, MEDIA } from '../media/formats.ts';
import { mediaId, type MediaInput } from '../media/input.ts';
import { requireRecipe } from '../recipe/load.ts';
import type { Recipe } from '../recipe/types.ts';
import { makeSignedUki, SECURE_BOOT_PACKAGES, signingKey } from './firmware.ts';
import { buildImage, ROOT_DISK_PACKAGES, type BuiltImage } from './image.ts';
import { buildManifest } from './manifest.ts';
import { writeImageDir } from './output.ts';
import type { Progress } from './progress.ts';
import { buildSbom } from './sbom.ts';
import { hashCode } from './sources.ts';
import { runLoggedStage, sha256, type StageRecord } from './stage.ts';
import { installLine, missingPackages, runningAsRoot } from '../tools/doctor.ts';
import { packageVersions } from '../tools/versions.ts';

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
  // Output file name → cache blob, in the order of the recipe's outputs.
  media?: Array<{ file: string; blob: string }>;
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

function loadRecipeAndLock(file: string, options: BuildOptions): BuildContext {
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

// Before any stage runs: every output format's host tools are here, or the build stops with the line that installs them.
async function checkOutputTools(ctx: BuildContext): Promise<void> {
  const signed = signsBootMedia(ctx.recipe);
  const missing = await missingPackages([...ctx.recipe.outputs.flatMap((f) => (isMedium(f) ? MEDIA[f].packages : ROOT_DISK_PACKAGES)), ...(signed ? SECURE_BOOT_PACKAGES : [])]);
  if (signed) signingKey();
  if (missing.length === 0) return;
  throw new UserError(`the outputs ${ctx.recipe.outputs.join(', ')} need packages this host lacks: ${missing.join(', ')}`, {
    hint: `run \`${installLine(missing, runningAsRoot())}\` (or \`./mvos doctor --fix\`)`,
  });
}

async function fetchInputs(ctx: BuildContext): Promise<void> {
  ctx.fetched = await fetchPins(allPins(ctx.lock), { cache: ctx.cache, offline: ctx.offline, progress: ctx.progress, aptSources: ctx.aptSources });
}

// Re-hashes every input whose file changed since it was last verified (size, mtime, ctime, inode), like git's index: any
// write to a cache file is caught, and a no-op build does not re-read hundreds of megabytes.
async function verifyInputs(ctx: BuildContext): Promise<void> {
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

async function buildImages(ctx: BuildContext): Promise<void> {
  ctx.image = await buildImage(
    { cache: ctx.cache, lock: ctx.lock, progress: ctx.progress, sourceDateEpoch: ctx.lock.sourceDateEpoch, stages: ctx.stages, built: new Map(), log: ctx.log },
    ctx.recipe,
  );
}

// Secure Boot hosts boot a signed UKI from their UEFI media (iso, raw, qcow2); kernel+initrd alone needs no signature.
function signsBootMedia(recipe: Recipe): boolean {
  return recipe.firmware.type === 'ovmf-secureboot' && recipe.outputs.some((f) => isMedium(f) && MEDIA[f].staged);
}

// Each boot medium is a stage keyed by the kernel, initrd, boot settings and the writer's code; vmlinuz and initrd are always written.
async function makeMedia(ctx: BuildContext): Promise<void> {
  const image = ctx.image!;
  const { recipe } = image;
  const settings = { name: recipe.name, version: recipe.version, cmdline: image.cmdline, boot: recipe.boot, stateLabel: recipe.host.stateLabel, sourceDateEpoch: ctx.lock.sourceDateEpoch };
  const uki = signsBootMedia(recipe) ? await makeSignedUki(ctx, { recipe, vmlinuz: image.vmlinuz, initrd: image.initrd, cmdline: image.cmdline, sourceDateEpoch: ctx.lock.sourceDateEpoch }) : undefined;
  const id = mediaId({ ...settings, vmlinuz: image.vmlinuz, initrd: image.initrd, uki });
  ctx.media = [
    { file: 'vmlinuz', blob: image.vmlinuz },
    { file: 'initrd', blob: image.initrd },
  ];
  if (image.disk) ctx.media.push({ file: 'rootfs.erofs', blob: image.disk });
  for (const name of recipe.outputs.filter(isMedium)) {
    const format = MEDIA[name];
    if (!format.staged) continue;
    const stageName = `media-${name}(${recipe.name})`;
    const record = await runLoggedStage(ctx, stageName, { id, code: hashCode([...format.code]), tools: await packageVersions(format.packages) }, async () => {
      const input: MediaInput = {
        ...settings,
        vmlinuz: await ctx.cache.read(image.vmlinuz, `${recipe.name} kernel`),
        initrd: await ctx.cache.read(image.initrd, `${recipe.name} initrd`),
        ...(uki ? { uki: await ctx.cache.read(uki, `${recipe.name} signed UKI`) } : {}),
        id,
      };
      return format.write(input);
    });
    for (const [file, blob] of Object.entries(record.outputs)) ctx.media.push({ file, blob });
  }
}

// Whether an output file holds these bytes: re-hashed only when its file state changed since it was last found right, so a
// no-op rebuild does not re-read hundreds of megabytes of ISO and disk images, yet any write to an output is noticed.
function sameOutput(path: string, expected: string, stamps: Map<string, string>): boolean {
  if (!existsSync(path)) return false;
  if (stamps.get(`out:${path}`) === outputStamp(path, expected)) return true;
  const same = createHash('sha256').update(readFileSync(path)).digest('hex') === expected;
  if (same) stamps.set(`out:${path}`, outputStamp(path, expected));
  return same;
}

function outputStamp(path: string, sha: string): string {
  return `${sha}@${fileStamp(path)}`;
}

async function writeOutputs(ctx: BuildContext): Promise<void> {
  const image = ctx.image!;
  const described = ctx.media!.map(({ file, blob }) => ({ file, sha256: blob, size: statSync(ctx.cache.path(blob)).size }));
  const files: Record<string, Buffer> = {};
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
  const stamps = await readStamps(ctx.cache);
  const recorded = JSON.stringify([...stamps]);
  const expected = [...outputs, { file: 'manifest.json', sha256: sha256(files['manifest.json']!) }];
  ctx.upToDate = expected.every((o) => sameOutput(join(dir, o.file), o.sha256, stamps));
  if (!ctx.upToDate) {
    for (const { file, blob } of ctx.media!) files[file] = await ctx.cache.read(blob, `${image.recipe.name} ${file}`);
    await writeImageDir(ctx.imagesDir, image.recipe.name, files);
    for (const o of expected) stamps.set(`out:${join(dir, o.file)}`, outputStamp(join(dir, o.file), o.sha256));
  }
  // A no-op build writes nothing, not even the stamps.
  if (JSON.stringify([...stamps]) !== recorded) await writeStamps(ctx.cache, stamps);
}

// Runs the build of one recipe and returns its context (what each step found and made).
export async function buildRecipe(file: string, options: BuildOptions): Promise<BuildContext> {
  const ctx = loadRecipeAndLock(file, options);
  await checkOutputTools(ctx);
  await fetchInputs(ctx);
  await verifyInputs(ctx);
  await buildImages(ctx);
  await makeMedia(ctx);
  await writeOutputs(ctx);
  return ctx;
}
