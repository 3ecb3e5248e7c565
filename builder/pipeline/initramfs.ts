// The initramfs stage: the root tree as concatenated compressed newc cpio segments (the kernel unpacks one after the
// other): the packages' files, the /usr image (when the recipe asks for one: the package files under /usr that boot does
// not read, as one squashfs file that init mounts under /usr), the kernel modules, the guest images, then what the image
// itself adds (overlays, templates, generated config, the agent). Each segment's compressed bytes are cached by what
// names its cpio, so a change to one overlay file compresses only the small last segment again, and the large packages
// segment can afford a high compression level because it is compressed once.
import { type Compression, compress, DEFAULT_LEVEL } from '../archive/compress.ts';
import { writeCpioNewc } from '../archive/cpio.ts';
import { readTar } from '../archive/tar.ts';
import type { Recipe } from '../recipe/types.ts';
import { compileGlobs } from '../rootfs/drop.ts';
import { linkedFiles } from '../rootfs/libraries.ts';
import { squashfsCanHold, USR_IMAGE_PATH, writeSquashfs } from '../rootfs/squashfs.ts';
import { FileTree, rootFile, type TreeEntry } from '../rootfs/tree.ts';
import { toolVersion } from '../tools/versions.ts';
import type { ImageContext } from './image.ts';
import { hashCode } from './sources.ts';
import { runLoggedStage, sha256 } from './stage.ts';

// The segments in unpack order; a path is in exactly one, so order only matters for parent folders.
export const SEGMENTS = ['packages', 'usr-image', 'kernel', 'guests', 'image'] as const;
type Segment = (typeof SEGMENTS)[number];

// zstd 19 for the packages: measured on the host, 51.4 MB against 59.1 MB at level 12, unpacked by the kernel in about
// the same time (8.2 s against 7.0–7.8 s to power-off under TCG, xz -9 took 16–17 s), and paid once per package set.
const PACKAGES_ZSTD_LEVEL = 19;

function isKernelPath(path: string): boolean {
  return /^(usr\/)?lib\/modules(\/|$)/.test(path);
}

function isGuestPath(path: string): boolean {
  return path.startsWith('usr/share/mvos/vms/') || path.startsWith('usr/share/mvos/container/');
}

// Which segment each entry of the root tree goes to: a package's file that the image left as the package had it (its
// path in `packaged`, which the rootfs stage records while it holds both trees) goes with the packages, or into the /usr
// image when it is in `onDemand`; hard links go with the file they name, so each segment's links stay within it.
export function segmentOf(
  root: FileTree,
  packaged: ReadonlySet<string>,
  onDemand: ReadonlySet<string> = new Set(),
): (entry: Readonly<TreeEntry>) => Segment {
  const place = (entry: Readonly<TreeEntry>): Segment => {
    const path = entry.path;
    if (isKernelPath(path)) return 'kernel';
    if (isGuestPath(path)) return 'guests';
    if (onDemand.has(path)) return 'usr-image';
    return packaged.has(path) ? 'packages' : 'image';
  };
  return (entry) => (entry.type === 'hardlink' ? place(root.get(entry.linkname!)!) : place(entry));
}

// The package files under /usr that go into the /usr image: every one the image left as its package had it, except the
// boot programs with the libraries they link, the paths the recipe keeps unpacked, and what a squashfs made here cannot
// name. A file goes only with all its hard links, so that each segment's links stay within it.
export function usrImagePaths(
  root: FileTree,
  packaged: ReadonlySet<string>,
  usrImage: NonNullable<Recipe['initramfs']['usrImage']>,
): Set<string> {
  const boot = linkedFiles(root, usrImage.boot);
  const unpacked = compileGlobs(usrImage.unpacked);
  const eligible = (path: string) =>
    path.startsWith('usr/') &&
    packaged.has(path) &&
    !isKernelPath(path) &&
    !isGuestPath(path) &&
    !unpacked(path) &&
    squashfsCanHold(path.slice('usr/'.length));
  const files = new Set(
    root
      .entries()
      .filter((e) => e.type === 'file' && eligible(e.path) && !boot.has(e.path))
      .map((e) => e.path),
  );
  const links = root.entries().filter((e) => e.type === 'hardlink' && files.has(e.linkname!));
  for (const link of links) if (!eligible(link.path)) files.delete(link.linkname!);
  return new Set([...files, ...links.filter((l) => files.has(l.linkname!)).map((l) => l.path)]);
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
  // The /usr image is xz inside already: the fastest level only wraps it.
  if (segment === 'usr-image') return 1;
  if (level !== undefined || compression !== 'zstd') return level;
  // The kernel's modules, carried decompressed, are compressed here once per module set too: on the host 2.69 MB at 19
  // against 2.98 MB at 12 (the modules as xz files took 2.60 MB, and seconds to load). The guests too: the controller's
  // and the rescue VM's disks and initrds are nearly the same bytes, which only level 17 and up (an 8 MiB window) find:
  // 5.10 MB at 19 against 7.24 MB at 12.
  return segment === 'image' ? DEFAULT_LEVEL.zstd : PACKAGES_ZSTD_LEVEL;
}

// What names a segment's cpio without making it. The packages segment's and the /usr image's files are the package
// layer's own (segmentOf puts nothing else there), so the layer's blob and each entry's metadata name them: their cpio
// (and the squashfs, 40 s of xz) is not made when only an overlay changed. Any other segment is named by its cpio's hash.
function segmentIdentity(name: Segment, tree: FileTree, packages: string, writer: string): string | undefined {
  if (name !== 'packages' && name !== 'usr-image') return undefined;
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
  return `${name}:layer:${packages}:${writer}:${sha256(JSON.stringify(entries))}`;
}

// The /usr image segment's cpio: one file, the squashfs of the segment's files with /usr as its root, readable by root
// alone (init mounts it; nothing else has a reason to read it).
async function usrImageCpio(tree: FileTree, sourceDateEpoch: number): Promise<Buffer> {
  const usr = new FileTree();
  for (const e of tree.entries()) {
    if (!e.path.startsWith('usr/')) continue;
    const linkname = e.type === 'hardlink' ? { linkname: e.linkname!.slice('usr/'.length) } : {};
    usr.add({ ...e, path: e.path.slice('usr/'.length), ...linkname });
  }
  const holder = new FileTree();
  holder.add(rootFile(USR_IMAGE_PATH, await writeSquashfs(usr, { sourceDateEpoch }), 'usr-image', 0o400));
  return writeCpioNewc(holder, { mtime: sourceDateEpoch, links: true });
}

// A segment's compressed bytes, from the cache when the same cpio was compressed the same way before.
async function compressedSegment(
  ctx: ImageContext,
  segment: { identity?: string; cpio: () => Promise<Buffer> },
  method: Compression,
  level?: number,
): Promise<Buffer> {
  let cpio: Buffer | undefined;
  const made = async () => {
    cpio ??= await segment.cpio();
    return cpio;
  };
  const key = `initramfs-segment:${method}:${level ?? ''}:${segment.identity ?? `cpio:${sha256(await made())}`}`;
  const cached = await ctx.cache.getKey(key);
  if (cached) return ctx.cache.read(cached, 'initramfs segment');
  const compressed = await compress(await made(), method, level);
  await ctx.cache.setKey(key, (await ctx.cache.putBuffer(compressed)).sha256);
  return compressed;
}

// What makes the /usr image's bytes besides its files: mksquashfs and the code that drives it.
async function usrImageMaker(): Promise<string> {
  const code = await hashCode(['builder/rootfs/squashfs.ts', 'builder/rootfs/write-out.ts']);
  return `${code}:${await toolVersion('mksquashfs', '-version')}`;
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
  const { compression, level, usrImage } = recipe.initramfs;
  const inputs = {
    rootfs,
    packages,
    packagePaths,
    compression,
    level: String(level ?? ''),
    usrImage: JSON.stringify(usrImage ?? null),
    sde: String(ctx.sourceDateEpoch),
    code: await hashCode(['builder/pipeline/initramfs.ts', 'builder/rootfs/libraries.ts', 'builder/rootfs/elf.ts']),
    compressor: compression === 'zstd' ? await toolVersion('zstd', '-V') : `node ${process.versions.zlib}`,
    ...(usrImage ? { usrImageMaker: await usrImageMaker() } : {}),
  };
  const record = await runLoggedStage(ctx, `initramfs(${recipe.name})`, inputs, async () => {
    const root = await readTar(await ctx.cache.read(rootfs, `${recipe.name} rootfs`), { origin: 'rootfs' });
    // The package layer itself (as large as the root) is not read again: the rootfs stage listed what it left alone.
    const packaged = new Set(
      JSON.parse((await ctx.cache.read(packagePaths, `${recipe.name} package paths`)).toString('utf8')) as string[],
    );
    const onDemand = usrImage ? usrImagePaths(root, packaged, usrImage) : new Set<string>();
    const segments = splitTree(root, segmentOf(root, packaged, onDemand));
    const parts: Buffer[] = [];
    // The cpio writer's code is part of a segment's name where its cpio is not hashed.
    const writer = `${await hashCode(['builder/archive/cpio.ts'])}:${ctx.sourceDateEpoch}`;
    for (const name of SEGMENTS) {
      const tree = segments.get(name)!;
      if (tree.size === 0) continue;
      const maker = name === 'usr-image' ? `${writer}:${inputs.usrImageMaker}` : writer;
      const identity = segmentIdentity(name, tree, packages, maker);
      // Real hard links: a file shipped under several names (the guest images two VMs share) is in a segment once.
      const cpio = () =>
        name === 'usr-image'
          ? usrImageCpio(tree, ctx.sourceDateEpoch)
          : writeCpioNewc(tree, { mtime: ctx.sourceDateEpoch, links: true });
      parts.push(
        await compressedSegment(ctx, { ...(identity ? { identity } : {}), cpio }, compression, levelFor(recipe, name)),
      );
    }
    return { initrd: Buffer.concat(parts) };
  });
  return record.outputs.initrd!;
}
