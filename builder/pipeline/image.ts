// One image's build as verb-named steps: build the guests, install the packages, make the kernel, bundle the agent,
// write the VMs' NVRAM stores, assemble the rootfs, pack the initramfs, and make the root disk when the recipe asks for
// it.
import { FailureError } from '../../common/errors.ts';
import { esbuildNodeTarget } from '../agent/bundle.ts';
import type { PackagePin } from '../inputs/apt.ts';
import type { ContentCache } from '../inputs/cache.ts';
import { nodeRuntimePackage } from '../inputs/lock.ts';
import { type LockedImage, type Lockfile, pinOf } from '../inputs/lockfile.ts';
import type { Recipe } from '../recipe/types.ts';
import type { TrimmedIcu } from '../rootfs/icu.ts';
import { bundleAgentStage } from './agent.ts';
import { makeVmVars, pinFirmware } from './firmware.ts';
import { packInitramfs } from './initramfs.ts';
import { makeKernel } from './kernel.ts';
import { installPackages } from './packages.ts';
import type { Progress } from './progress.ts';
import { makeRootDisk, wantsRootDisk } from './root-disk.ts';
import { assembleRootfs } from './rootfs.ts';
import type { StageRecord } from './stage.ts';

// What an image build needs from the whole build.
export interface ImageContext {
  cache: ContentCache;
  lock: Lockfile;
  progress: Progress;
  sourceDateEpoch: number;
  stages: StageRecord[];
  built: Map<string, Promise<BuiltImage>>;
  log: (line: string) => void;
}

// The result of building one image: output blobs and what went into them.
export interface BuiltImage {
  recipe: Recipe;
  vmlinuz: string;
  initrd: string;
  rootfs: string;
  kernelVersion: string;
  cmdline: string;
  inputs: Array<PackagePin & { role: string }>;
  dropped: { rules: string[]; files: number; libraries: string[]; icu?: TrimmedIcu };
  rootfsStats: { entries: number; bytes: number; initrdBytes: number };
  guests: BuiltImage[];
  // The root tree as an EROFS disk (rootfs.erofs), when the recipe asks for the erofs output.
  disk?: string;
}

function lockedImage(ctx: ImageContext, recipe: Recipe): LockedImage {
  const locked = ctx.lock.images[recipe.name];
  if (!locked) throw new FailureError(`the lockfile has no image ${recipe.name}`, { hint: 'run `mvos lock` again' });
  return locked;
}

async function buildGuests(ctx: ImageContext, recipe: Recipe): Promise<BuiltImage[]> {
  const guests: BuiltImage[] = [];
  for (const vm of recipe.vms) guests.push(await buildImage(ctx, vm.recipe));
  return guests;
}

async function bundleAgentIfEnabled(ctx: ImageContext, recipe: Recipe): Promise<string | undefined> {
  if (recipe.kind !== 'host' || !recipe.agent.enabled) return undefined;
  const runtime = lockedImage(ctx, recipe).runtime?.node ?? nodeRuntimePackage;
  return bundleAgentStage(ctx, esbuildNodeTarget(pinOf(ctx.lock, runtime).version));
}

async function makeHostVmVars(ctx: ImageContext, recipe: Recipe): Promise<Record<string, string>> {
  return recipe.kind === 'host' && recipe.vms.length > 0
    ? makeVmVars(ctx, recipe.name, recipe.vms, await pinFirmware(ctx, ctx.lock))
    : {};
}

// Builds one image and, for a host, every guest image it carries; each image is built once per build.
export function buildImage(ctx: ImageContext, recipe: Recipe): Promise<BuiltImage> {
  let pending = ctx.built.get(recipe.file);
  if (!pending) {
    pending = buildImageOnce(ctx, recipe);
    ctx.built.set(recipe.file, pending);
  }
  return pending;
}

async function buildImageOnce(ctx: ImageContext, recipe: Recipe): Promise<BuiltImage> {
  const locked = lockedImage(ctx, recipe);
  const pins = locked.packages.map((name) => pinOf(ctx.lock, name));
  const guests = await buildGuests(ctx, recipe);
  const packages = await installPackages(ctx, recipe, pins);
  const kernel = await makeKernel(ctx, recipe, locked);
  const agent = await bundleAgentIfEnabled(ctx, recipe);
  const vmVars = await makeHostVmVars(ctx, recipe);
  const rootfs = await assembleRootfs(ctx, recipe, {
    packages: packages.tar,
    modules: kernel.modules,
    agent,
    guests,
    vmVars,
  });
  const initrd = await packInitramfs(ctx, recipe, rootfs.tar, packages.tar, rootfs.packagePaths);
  const disk = wantsRootDisk(recipe) ? await makeRootDisk(ctx, recipe, rootfs.tar) : undefined;
  const firmware = locked.firmware.map((name) => ({ ...pinOf(ctx.lock, name), role: 'firmware' }));
  return {
    recipe,
    vmlinuz: kernel.vmlinuz,
    initrd,
    rootfs: rootfs.tar,
    kernelVersion: kernel.version,
    cmdline: recipe.kernel.cmdline.join(' '),
    inputs: [...pins.map((p) => ({ ...p, role: 'rootfs' })), ...kernel.pins, ...firmware],
    dropped: packages.dropped,
    rootfsStats: { entries: rootfs.stats.entries, bytes: rootfs.stats.bytes, initrdBytes: 0 },
    guests,
    disk,
  };
}
