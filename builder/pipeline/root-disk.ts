// The erofs stage: the same tree the initramfs holds, as a read-only EROFS disk (the recipe output erofs,
// rootfs.erofs).
import { readTar } from '../archive/tar.ts';
import type { Recipe } from '../recipe/types.ts';
import { writeErofs } from '../rootfs/erofs.ts';
import { toolVersion } from '../tools/versions.ts';
import type { ImageContext } from './image.ts';
import { hashCode } from './sources.ts';
import { runLoggedStage } from './stage.ts';

// The Debian package of the root disk's mkfs.erofs.
export const ROOT_DISK_PACKAGES = ['erofs-utils'] as const;

// Whether the recipe asks for the root disk: a guest that boots from it runs exactly what was built.
export function wantsRootDisk(recipe: Recipe): boolean {
  return recipe.outputs.includes('erofs');
}

// The rootfs.erofs blob of the root tree blob `rootfs`.
export async function makeRootDisk(ctx: ImageContext, recipe: Recipe, rootfs: string): Promise<string> {
  const inputs = {
    rootfs,
    sde: String(ctx.sourceDateEpoch),
    code: await hashCode(['builder/pipeline/root-disk.ts']),
    mkfs: await toolVersion('mkfs.erofs', '-V'),
  };
  const record = await runLoggedStage(ctx, `erofs(${recipe.name})`, inputs, async () => {
    const tree = await readTar(await ctx.cache.read(rootfs, `${recipe.name} rootfs`), { origin: 'rootfs' });
    return { 'rootfs.erofs': (await writeErofs(tree, { sourceDateEpoch: ctx.sourceDateEpoch })).image };
  });
  return record.outputs['rootfs.erofs']!;
}
