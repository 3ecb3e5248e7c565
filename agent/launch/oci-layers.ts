// Applies image layers (tar streams) onto a folder in order, with OCI whiteouts: `.wh.NAME` deletes NAME from the
// layers below, `.wh..wh..opq` empties its folder of what the layers below put there. Names are checked and resolved
// inside the folder, so no member, link or symlink can write outside it; bytes and entries count against the image's
// caps.
import { createWriteStream } from 'node:fs';
import { chmod, lchown, link, lstat, mkdir, readdir, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../../common/errors.ts';
import { UnpackBudget, unpackLimits } from './oci-limits.ts';
import { resolveParent, safeSegments } from './oci-paths.ts';
import { eachEntry, type TarEntry } from './oci-tar.ts';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

// What applying one layer did, for the log and the tests.
export interface LayerReport {
  entries: number;
  removed: number;
  // Device nodes and fifos: not unpacked, the microVM's devtmpfs provides /dev.
  skipped: string[];
}

// Owners: 'keep' needs root (lchown); 'ignore' leaves every file to the unpacking user (mkfs.erofs then makes them
// root's). Folder modes wait in dirModes until every layer is in (setFolderModes): a read-only folder must still take
// the files of later layers when the unpacking user is not root.
export interface LayerOptions {
  owners: 'keep' | 'ignore';
  dirModes: Map<string, number>;
  // Shared by all layers of an image; without one, this layer alone is held to the default caps.
  budget?: UnpackBudget;
}

// Drops the folder modes recorded for rel and everything under it, once it is gone.
function forget(dirModes: Map<string, number>, rel: string): void {
  for (const key of dirModes.keys()) if (key === rel || key.startsWith(`${rel}/`)) dirModes.delete(key);
}

async function removeIfPresent(path: string, rel: string, dirModes: Map<string, number>): Promise<boolean> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return false;
  await rm(path, { recursive: true, force: true });
  forget(dirModes, rel);
  return true;
}

// Replaces whatever is at path unless both it and the new entry are folders (a folder entry only updates the mode).
async function clearFor(path: string, rel: string, type: string, dirModes: Map<string, number>): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (!info || (info.isDirectory() && type === 'directory')) return;
  if (info.isDirectory()) await rm(path, { recursive: true, force: true });
  else await unlink(path);
  forget(dirModes, rel);
}

// Gives every folder that is still a folder the mode its layer asked for ('final', deepest first), or opens them all
// to their owner again ('open', shallowest first) so an unprivileged user can delete the tree afterwards.
export async function setFolderModes(
  root: string,
  dirModes: Map<string, number>,
  which: 'final' | 'open' = 'final',
): Promise<void> {
  const depth = (rel: string) => rel.split('/').length;
  const order = [...dirModes.keys()].sort((a, b) => (which === 'final' ? depth(b) - depth(a) : depth(a) - depth(b)));
  for (const rel of order) {
    const path = join(root, rel);
    const mode = dirModes.get(rel)!;
    if ((await lstat(path).catch(() => undefined))?.isDirectory())
      await chmod(path, which === 'final' ? mode : mode | 0o700);
  }
}

// Empties an opaque folder of everything this layer has not itself written, children of written folders included.
async function makeOpaque(
  dir: string,
  rel: string,
  written: Set<string>,
  dirModes: Map<string, number>,
): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const childRel = rel ? `${rel}/${name}` : name;
    const child = join(dir, name);
    if (!written.has(childRel)) {
      await rm(child, { recursive: true, force: true });
      forget(dirModes, childRel);
      removed++;
    } else if ((await lstat(child)).isDirectory()) removed += await makeOpaque(child, childRel, written, dirModes);
  }
  return removed;
}

// Unpacks one (decompressed) layer onto root.
export async function applyLayer(root: string, layer: Readable, options: LayerOptions): Promise<LayerReport> {
  const report: LayerReport = { entries: 0, removed: 0, skipped: [] };
  const budget = options.budget ?? new UnpackBudget(unpackLimits(), 'its layers');
  const written = new Set<string>();
  // The meter sits before the tar parser: past the byte cap the stream fails before those bytes reach the disk.
  await eachEntry(layer, [budget.meter()], 'a layer of the image', (entry) =>
    applyEntry(root, entry, options, budget, written, report),
  );
  return report;
}

async function applyEntry(
  root: string,
  entry: TarEntry,
  options: LayerOptions,
  budget: UnpackBudget,
  written: Set<string>,
  report: LayerReport,
): Promise<void> {
  const { header } = entry;
  budget.takeEntry();
  const parts = safeSegments(header.name, 'layer member');
  if (parts.length === 0) return;
  const resolved = await resolveParent(root, parts);
  const rel = resolved.join('/');
  const parent = join(root, ...resolved.slice(0, -1));
  const base = resolved[resolved.length - 1]!;
  report.entries++;
  if (base === OPAQUE) {
    report.removed += await makeOpaque(parent, resolved.slice(0, -1).join('/'), written, options.dirModes);
    return;
  }
  if (base.startsWith(WHITEOUT)) {
    const name = base.slice(WHITEOUT.length);
    // `.wh..` and `.wh...` would name the whiteout's own folder or its parent (the root, or the folder above it).
    if (name === '' || name === '.' || name === '..')
      throw new UserError(`refusing whiteout /${rel}: it names no file, only its folder or the one above`, {
        hint: 'the image is malformed or hostile; rebuild it from a trusted source',
      });
    if (await removeIfPresent(join(parent, name), [...resolved.slice(0, -1), name].join('/'), options.dirModes))
      report.removed++;
    return;
  }
  await mkdir(parent, { recursive: true });
  const path = join(parent, base);
  if (header.type === 'character-device' || header.type === 'block-device' || header.type === 'fifo') {
    report.skipped.push(rel);
    return;
  }
  await clearFor(path, rel, header.type === 'directory' ? 'directory' : 'other', options.dirModes);
  written.add(rel);
  if (header.type === 'directory') await mkdir(path, { recursive: true });
  else if (header.type === 'symlink') await symlink(header.linkname, path);
  else if (header.type === 'link') {
    const target = await resolveParent(root, safeSegments(header.linkname, 'hard link target'));
    const source = join(root, ...target);
    const info = await lstat(source).catch(() => undefined);
    if (!info || info.isDirectory())
      throw new UserError(
        `hard link /${rel} points to /${target.join('/')}, which is ${info ? 'a folder' : 'not in the image'}`,
      );
    await link(source, path);
  } else if (header.type === 'file' || header.type === 'contiguous-file') {
    await pipeline(entry, createWriteStream(path, { flags: 'wx' }));
  } else throw new UserError(`layer member /${rel} has type ${header.type}, which an image cannot hold`);
  if (options.owners === 'keep') await lchown(path, header.uid, header.gid);
  if (header.type === 'directory') {
    options.dirModes.set(rel, header.mode & 0o7777);
    await chmod(path, (header.mode & 0o7777) | 0o700);
  } else if (header.type !== 'symlink' && header.type !== 'link') await chmod(path, header.mode & 0o7777);
}
