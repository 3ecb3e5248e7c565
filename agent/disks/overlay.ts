// A VM's writable qcow2 overlay over its immutable base image: created whole or not at all, leftovers found and
// repaired.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { replaceFileAtomic } from '../../common/atomic-write.ts';
import { FailureError } from '../../common/errors.ts';
import { backingChain, checkImage, createLayer, type DiskFormat } from './qemu-img.ts';

// The read-only image a VM's disk grows from.
export interface BaseImage {
  path: string;
  format: DiskFormat;
}

// What ensureOverlay found: a new overlay, a good one kept, or one kept after freeing leaked clusters.
export type OverlayAction = 'created' | 'kept' | 'repaired';

const TEMP_PREFIX = '.creating-';

// Creates overlay (qcow2, backing = the base's absolute path) by writing a temporary file and renaming it into place,
// so a crash leaves either no overlay or a whole one.
export async function createOverlay(overlay: string, base: BaseImage): Promise<void> {
  const backing = resolve(base.path);
  await stat(backing).catch((error: NodeJS.ErrnoException) => {
    throw new FailureError(`the base image ${backing} is missing (${error.code})`, {
      hint: 'the host image ships it; rebuild or reinstall the host',
    });
  });
  const dir = dirname(overlay);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `${TEMP_PREFIX}${randomBytes(4).toString('hex')}-${basename(overlay)}`);
  await replaceFileAtomic(overlay, (path) => createLayer(path, { file: backing, format: base.format }), { temp });
}

// Makes sure overlay exists, is a sound qcow2 and grows from base: removes half-created temporaries, frees leaked
// clusters, creates it when missing. An overlay that is corrupt or grows from another base is refused (it holds data).
export async function ensureOverlay(overlay: string, base: BaseImage): Promise<OverlayAction> {
  const dir = dirname(overlay);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith(TEMP_PREFIX)) await rm(join(dir, name), { force: true });
  }
  const exists = await stat(overlay).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await createOverlay(overlay, base);
    return 'created';
  }
  const check = await checkImage(overlay, { repair: true });
  if (check.state !== 'clean' && check.state !== 'repaired') {
    throw new FailureError(`the disk overlay ${overlay} is damaged: ${check.detail}`, {
      hint:
        'its data could not be repaired automatically; inspect it with `qemu-img check`, or delete it to start ' +
        'from the base image',
    });
  }
  const [top] = await backingChain(overlay);
  const expected = resolve(base.path);
  const backing = top?.fullBackingFilename ?? top?.backingFilename;
  if (!backing || !isAbsolute(backing) || resolve(backing) !== expected || top?.backingFormat !== base.format) {
    throw new FailureError(
      `the disk overlay ${overlay} grows from ${backing ?? 'nothing'} (${top?.backingFormat ?? '?'}), not from ${expected} (${base.format})`,
      {
        hint:
          'the base image changed under an overlay that holds data; rebase it with `qemu-img rebase`, or delete' +
          ' it to start fresh',
      },
    );
  }
  return check.state === 'repaired' ? 'repaired' : 'kept';
}
