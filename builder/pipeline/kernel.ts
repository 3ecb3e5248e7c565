// The kernel stages: a Debian kernel package's vmlinuz and the modules the recipe names, or a kernel built from source.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FailureError } from '../../common/errors.ts';
import { writeTar } from '../archive/tar.ts';
import type { PackagePin } from '../inputs/apt.ts';
import { type LockedImage, pinOf } from '../inputs/lockfile.ts';
import { extractDebianKernel } from '../kernel/debian.ts';
import { selectModules } from '../kernel/modules.ts';
import { buildKernelFromSource, kernelSourceKey, kernelToolchain, readConfigFragments } from '../kernel/source.ts';
import { kernelConfigDir } from '../recipe/rules.ts';
import type { Recipe } from '../recipe/types.ts';
import { FileTree } from '../rootfs/tree.ts';
import { toolAnswer, toolVersion } from '../tools/versions.ts';
import type { ImageContext } from './image.ts';
import { withKernelBuildProgress } from './kernel-progress.ts';
import { hashCode, hashFiles } from './sources.ts';
import { runLoggedStage, type StageRecord } from './stage.ts';

// The modules an image carries: a tar of lib/modules/<version>/ and the load order for /etc/mvos/modules.
export interface KernelModules {
  tar: string;
  load: string;
}

// An image's kernel as cache blobs, and the package it came from.
export interface BuiltKernel {
  vmlinuz: string;
  modules?: KernelModules;
  version: string;
  pins: Array<PackagePin & { role: string }>;
}

async function kernelVersion(ctx: ImageContext, record: StageRecord): Promise<string> {
  return (await ctx.cache.read(record.outputs.version!, 'kernel version')).toString();
}

async function extractPackagedKernel(ctx: ImageContext, recipe: Recipe, packageName: string): Promise<BuiltKernel> {
  const pin = pinOf(ctx.lock, packageName);
  const code = await hashCode(['builder/pipeline/kernel.ts']);
  const inputs = {
    kernel: pin.sha256,
    modules: recipe.kernel.modules.join(','),
    sde: String(ctx.sourceDateEpoch),
    code,
    depmod: await toolVersion('depmod'),
  };
  const record = await runLoggedStage(ctx, `kernel(${recipe.name})`, inputs, async () => {
    const kernel = await extractDebianKernel(await ctx.cache.read(pin.sha256, pin.name), pin.name);
    const selected = await selectModules(kernel, [...recipe.kernel.modules]);
    const tree = new FileTree();
    for (const [path, content] of [...selected.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      tree.add({
        path: `lib/modules/${kernel.version}/${path}`,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        content,
        origin: `pkg:${pin.name}`,
      });
    }
    return {
      vmlinuz: kernel.vmlinuz,
      'modules.tar': await writeTar(tree, { mtime: ctx.sourceDateEpoch }),
      'modules.load': Buffer.from(selected.loadOrder.map((m) => `${m}\n`).join('')),
      version: Buffer.from(kernel.version),
    };
  });
  return {
    vmlinuz: record.outputs.vmlinuz!,
    modules: { tar: record.outputs['modules.tar']!, load: record.outputs['modules.load']! },
    version: await kernelVersion(ctx, record),
    pins: [{ ...pin, role: 'kernel' }],
  };
}

// The built kernel is a function of the pinned source, the fragments, the toolchain and the make run in source.ts
// alone; the modules source.ts imports (errors, exec, the .deb reader) cannot change its bytes, and a rebuild costs
// minutes.
const KERNEL_BUILD_CODE = hashFiles(['builder/kernel/source.ts']);

async function buildSourceKernel(ctx: ImageContext, source: string, packageName: string): Promise<BuiltKernel> {
  const pin = pinOf(ctx.lock, packageName);
  const configDir = `${kernelConfigDir}/${source}`;
  const fragments = await readConfigFragments(configDir);
  const key = kernelSourceKey(pin.sha256, fragments, 'tinyconfig', {
    sourceDateEpoch: ctx.sourceDateEpoch,
    toolchain: await toolAnswer('kernel toolchain', ['gcc', 'ld'], kernelToolchain),
  });
  const record = await runLoggedStage(ctx, `kernel-source(${source})`, { key, code: KERNEL_BUILD_CODE }, async () => {
    const sourceDeb = await ctx.cache.read(pin.sha256, pin.name);
    ctx.log(`building kernel ${source} from ${pin.name} ${pin.version} (several minutes; cached afterwards)`);
    // A private work folder per build: two builds sharing one would corrupt each other's trees.
    await mkdir(join(ctx.cache.root, 'kernel-build'), { recursive: true });
    const workDir = await mkdtemp(join(ctx.cache.root, 'kernel-build', 'build-'));
    const built = await withKernelBuildProgress(ctx, source, (onLine) =>
      buildKernelFromSource({
        sourceDeb,
        sourceLabel: pin.name,
        configDir,
        workDir,
        sourceDateEpoch: ctx.sourceDateEpoch,
        onLine,
      }),
    ).finally(() => rm(workDir, { recursive: true, force: true }));
    return { vmlinuz: built.bzImage, config: Buffer.from(built.config), version: Buffer.from(built.version) };
  });
  return {
    vmlinuz: record.outputs.vmlinuz!,
    version: await kernelVersion(ctx, record),
    pins: [{ ...pin, role: 'kernel-source' }],
  };
}

// The image's kernel: from its locked kernel package, else built from its locked kernel source.
export async function makeKernel(ctx: ImageContext, recipe: Recipe, locked: LockedImage): Promise<BuiltKernel> {
  if (locked.kernel) return extractPackagedKernel(ctx, recipe, locked.kernel.package);
  if (locked.kernelSource && recipe.kernel.source)
    return buildSourceKernel(ctx, recipe.kernel.source, locked.kernelSource.package);
  throw new FailureError(`${recipe.name} has no kernel to build`, {
    hint: 'set kernel.package or kernel.source in the recipe',
  });
}
