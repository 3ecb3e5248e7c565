// One guest image of the default host's lockfile (the controller, by default), built or found in the user's cache
// without the host's own stages: its kernel, initramfs and root disk as read-only cache files.

import { ContentCache } from '../../builder/inputs/cache.ts';
import { readLockfile } from '../../builder/inputs/lockfile.ts';
import { buildImage } from '../../builder/pipeline/image.ts';
import { createProgress } from '../../builder/pipeline/progress.ts';
import { repoRoot } from '../../builder/pipeline/sources.ts';
import { requireRecipe } from '../../builder/recipe/load.ts';

// The built guest's files (paths into the content cache: never write to them) and its own kernel command line.
export interface GuestImage {
  kernel: string;
  initrd: string;
  disk?: string;
  // The root tree (tar) the initramfs and the disk are made from.
  rootfs: string;
  cmdline: string;
}

// Builds the guest recipe with the host's lock (a cold cache compiles the guest kernel: minutes under TCG machines'
// load).
export async function buildGuestImage(
  recipe = 'recipes/controller.yaml',
  hostLock = 'recipes/host.lock.json',
): Promise<GuestImage> {
  const lock = readLockfile(`${repoRoot}/${hostLock}`);
  if (!lock) throw new Error(`${hostLock} is missing: run \`./mvos lock recipes/host.yaml\``);
  const cache = ContentCache.fromEnvironment();
  const progress = createProgress(process.stderr, true);
  const image = await buildImage(
    {
      cache,
      lock,
      progress,
      sourceDateEpoch: lock.sourceDateEpoch,
      stages: [],
      built: new Map(),
      log: () => undefined,
    },
    requireRecipe(recipe, repoRoot),
  );
  return {
    kernel: cache.path(image.vmlinuz),
    initrd: cache.path(image.initrd),
    disk: image.disk ? cache.path(image.disk) : undefined,
    rootfs: cache.path(image.rootfs),
    cmdline: image.cmdline,
  };
}
