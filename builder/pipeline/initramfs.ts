// The initramfs stage: the root tree as concatenated compressed newc cpio segments (the kernel unpacks one after the
// other): the packages' files, the kernel modules, the guest images, then what the image itself adds (overlays,
// templates, generated config, the agent). Each segment's compressed bytes are cached by what names its cpio, so a change
// to one overlay file compresses only the small last segment again, and the large packages segment can afford a high
// compression level because it is compressed once.
import { type Compression, compress, DEFAULT_LEVEL } from '../archive/compress.ts';
import { writeCpioNewc } from '../archive/cpio.ts';
import { readTar } from '../archive/tar.ts';
import type { Recipe } from '../recipe/types.ts';
import { FileTree, type TreeEntry } from '../rootfs/tree.ts';
import { toolVersion } from '../tools/versions.ts';
import type { ImageContext } from './image.ts';
import { hashCode } from './sources.ts';
import { runLoggedStage, sha256 } from './stage.ts';

// The segments in unpack order; a path is in exactly one, so order only matters for parent folders.
export const SEGMENTS = ['packages', 'kernel', 'guests', 'image'] as const;
type Segment = (typeof SEGMENTS)[number];

// zstd 19 for the packages: measured on the host, 51.4 MB against 59.1 MB at level 12, unpacked by the kernel in about
// the same time (8.2 s against 7.0–7.8 s to power-off under TCG, xz -9 took 16–17 s), and paid once per package set.
const PACKAGES_ZSTD_LEVEL = 19;

// Which segment each entry of the root tree goes to: a package's file that the image left as the package had it (its
// path in `packaged`, which the rootfs stage records while it holds both trees) goes with the packages; hard links go
// with the file they name, so each segment's links stay within it.
export function segmentOf(root: FileTree, packaged: ReadonlySet<string>): (entry: Readonly<TreeEntry>) => Segment {
  const place = (entry: Readonly<TreeEntry>): Segment => {
    const path = entry.path;
    if (/^(usr\/)?lib\/modules(\/|$)/.test(path)) return 'kernel';
    if (path.startsWith('usr/share/mvos/vms/') || path.startsWith('usr/share/mvos/container/')) return 'guests';
    return packaged.has(path) ? 'packages' : 'image';
  };
  return (entry) => (entry.type === 'hardlink' ? place(root.get(entry.linkname!)!) : place(entry));
}

// Splits the root tree into one tree per segment; each holds the parent folders of its entries as the root has them.
export function splitTree(root: FileTree, segmentFor: (entry: Readonly<TreeEntry>) => Segment): Map<Segment, FileTree> {
  const trees = new Map<Segment, FileTree>(SEGMENTS.map((s) => [s, new FileTree()]));
  for (const entry of root.entries()) {
    const tree = trees.get(segmentFor(entry))!;
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!tree.has(parent)) tree.add({ ...root.get(parent)! });
    }
    if (!tree.has(entry.path) || entry.type !== 'directory') tree.add({ ...entry });
  }
  return trees;
}

function levelFor(recipe: Recipe, segment: Segment): number | undefined {
  const { compression, level } = recipe.initramfs;
  if (level !== undefined || compression !== 'zstd') return level;
  // The kernel's modules, carried decompressed, are compressed here once per module set too: on the host 2.69 MB at 19
  // against 2.98 MB at 12 (the modules as xz files took 2.60 MB, and seconds to load).
  return segment === 'packages' || segment === 'kernel' ? PACKAGES_ZSTD_LEVEL : DEFAULT_LEVEL.zstd;
}

// What names a segment's cpio without making it. The packages segment's files are the package layer's own (segmentOf
// puts nothing else there), so the layer's blob and each entry's metadata name it: its 170 MB cpio is neither written
// nor hashed when only an overlay changed. Any other segment is named by its cpio's hash.
function segmentIdentity(name: Segment, tree: FileTree, packages: string, writer: string): string | undefined {
  if (name !== 'packages') return undefined;
  const entries = [...tree.entries()].map((e) => [
    e.path,
    e.type,
    e.mode,
    e.uid,
    e.gid,
    e.linkname ?? '',
    e.devmajor ?? 0,
    e.devminor ?? 0,
    e.content?.length ?? -1,
  ]);
  return `layer:${packages}:${writer}:${sha256(JSON.stringify(entries))}`;
}

// A segment's compressed bytes, from the cache when the same cpio was compressed the same way before.
async function compressedSegment(
  ctx: ImageContext,
  segment: { tree: FileTree; identity?: string; mtime: number },
  method: Compression,
  level?: number,
): Promise<Buffer> {
  let cpio: Buffer | undefined;
  const made = async () => {
    cpio ??= await writeCpioNewc(segment.tree, { mtime: segment.mtime, links: true });
    return cpio;
  };
  const key = `initramfs-segment:${method}:${level ?? ''}:${segment.identity ?? `cpio:${sha256(await made())}`}`;
  const cached = await ctx.cache.getKey(key);
  if (cached) return ctx.cache.read(cached, 'initramfs segment');
  const compressed = await compress(await made(), method, level);
  await ctx.cache.setKey(key, (await ctx.cache.putBuffer(compressed)).sha256);
  return compressed;
}

// The initrd blob of the root tree blob `rootfs`, whose package layer is the tree blob `packages` and whose entries that
// layer holds unchanged are listed in the blob `packagePaths` (a JSON array, from the rootfs stage).
export async function packInitramfs(
  ctx: ImageContext,
  recipe: Recipe,
  rootfs: string,
  packages: string,
  packagePaths: string,
): Promise<string> {
  const { compression, level } = recipe.initramfs;
  const inputs = {
    rootfs,
    packages,
    packagePaths,
    compression,
    level: String(level ?? ''),
    sde: String(ctx.sourceDateEpoch),
    code: await hashCode(['builder/pipeline/initramfs.ts']),
    compressor: compression === 'zstd' ? await toolVersion('zstd', '-V') : `node ${process.versions.zlib}`,
  };
  const record = await runLoggedStage(ctx, `initramfs(${recipe.name})`, inputs, async () => {
    const root = await readTar(await ctx.cache.read(rootfs, `${recipe.name} rootfs`), { origin: 'rootfs' });
    // The package layer itself (as large as the root) is not read again: the rootfs stage listed what it left alone.
    const packaged = new Set(
      JSON.parse((await ctx.cache.read(packagePaths, `${recipe.name} package paths`)).toString('utf8')) as string[],
    );
    const segments = splitTree(root, segmentOf(root, packaged));
    const parts: Buffer[] = [];
    // The cpio writer's code is part of a segment's name where its cpio is not hashed.
    const writer = await hashCode(['builder/archive/cpio.ts']);
    for (const name of SEGMENTS) {
      const tree = segments.get(name)!;
      if (tree.size === 0) continue;
      // Real hard links: a file shipped under several names (the guest images two VMs share) is in a segment once.
      const identity = segmentIdentity(name, tree, packages, `${writer}:${ctx.sourceDateEpoch}`);
      const segment = { tree, ...(identity ? { identity } : {}), mtime: ctx.sourceDateEpoch };
      parts.push(await compressedSegment(ctx, segment, compression, levelFor(recipe, name)));
    }
    return { initrd: Buffer.concat(parts) };
  });
  return record.outputs.initrd!;
}
