// The initramfs stage: the root tree as a newc cpio archive, compressed as the recipe says.
import { compress } from '../archive/compress.ts';
import { writeCpioNewc } from '../archive/cpio.ts';
import { readTar } from '../archive/tar.ts';
import type { Recipe } from '../recipe/types.ts';
import { toolVersion } from '../tools/versions.ts';
import type { ImageContext } from './image.ts';
import { hashCode } from './sources.ts';
import { runLoggedStage } from './stage.ts';

// The initrd blob of the root tree blob `rootfs`.
export async function packInitramfs(ctx: ImageContext, recipe: Recipe, rootfs: string): Promise<string> {
  const { compression, level } = recipe.initramfs;
  const inputs = {
    rootfs,
    compression,
    level: String(level ?? ''),
    sde: String(ctx.sourceDateEpoch),
    code: await hashCode(['builder/pipeline/initramfs.ts']),
    compressor: compression === 'zstd' ? await toolVersion('zstd', '-V') : `node ${process.versions.zlib}`,
  };
  const record = await runLoggedStage(ctx, `initramfs(${recipe.name})`, inputs, async () => {
    const tree = await readTar(await ctx.cache.read(rootfs, `${recipe.name} rootfs`), { origin: 'rootfs' });
    const cpio = await writeCpioNewc(tree, { mtime: ctx.sourceDateEpoch });
    return { initrd: await compress(cpio, compression, level), 'cpio-size': Buffer.from(String(cpio.length)) };
  });
  return record.outputs.initrd!;
}
