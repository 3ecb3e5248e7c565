// Test support for trees: entries with usual defaults (root-owned, 0755 folders, 0777 links, 0644 files), ls-style
// modes, the packages in apt's cache, and the check of a tree written out to disk.
import { existsSync, readdirSync } from 'node:fs';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { dropFilter } from './drop.ts';
import { addDebToTree, FileTree, type TreeEntry } from './tree.ts';

// An entry of the given type; `extra` overrides any field.
export const entry = (path: string, type: TreeEntry['type'], extra: Partial<TreeEntry> = {}): TreeEntry => ({
  path,
  type,
  mode: type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644,
  uid: 0,
  gid: 0,
  origin: 'test',
  ...extra,
});

// The ls-style mode string (`-rwsr-xr-x`) that tar -tv, cpio -tv and dpkg-deb -c print, for a one-letter kind and
// permission bits.
export function lsMode(kind: string, mode: number): string {
  const bit = (mask: number, char: string) => (mode & mask ? char : '-');
  const exec = (x: number, special: number, on: string, off: string) =>
    mode & special ? (mode & x ? on : off) : bit(x, 'x');
  return (
    kind +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    exec(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    exec(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    exec(0o001, 0o1000, 't', 'T')
  );
}

const ARCHIVES = '/var/cache/apt/archives';

// The first .deb in apt's cache whose name starts with prefix (e.g. `unzip_`), if there is one.
export function cachedDeb(prefix: string): string | undefined {
  if (!existsSync(ARCHIVES)) return undefined;
  const found = readdirSync(ARCHIVES)
    .sort()
    .find((name) => name.startsWith(prefix) && name.endsWith('.deb'));
  return found ? join(ARCHIVES, found) : undefined;
}

// busybox-static's .deb: every image starts from it, so the tests need it in apt's cache.
export function busyboxDeb(): string {
  const deb = cachedDeb('busybox-static_');
  if (!deb)
    throw new Error(`no busybox-static .deb in ${ARCHIVES}: run \`apt-get install --download-only busybox-static\``);
  return deb;
}

// busybox-static as a tree, through the drop rules as a build reads it.
export async function busyboxTree(): Promise<FileTree> {
  const tree = new FileTree();
  await addDebToTree(tree, await readFile(busyboxDeb()), { origin: 'pkg:busybox-static', keep: dropFilter([]).keep });
  return tree;
}

// How a tool unpacks: hard links linked or as copies, the mtime on symlinks and folders or not, owners checked (root).
export interface Extracted {
  mtime: number;
  owners: boolean;
  hardlinks: 'linked' | 'copies';
  linkAndFolderTimes: boolean;
}

// Asserts that every entry of the tree stands under work with its type, mode, owner, mtime, content, link and device.
export async function assertExtracted(work: string, tree: FileTree, how: Extracted): Promise<void> {
  for (const e of tree.entries()) {
    const at = join(work, e.path);
    const stat = await lstat(at);
    const holder = e.type === 'hardlink' ? tree.get(e.linkname!)! : e;
    if (e.type !== 'symlink') assert.is(stat.mode & 0o7777, holder.mode, `${e.path} mode`);
    if (how.owners) assert.equal([stat.uid, stat.gid], [holder.uid, holder.gid], `${e.path} owner`);
    if (how.linkAndFolderTimes || (e.type !== 'symlink' && e.type !== 'directory'))
      assert.is(stat.mtimeMs, how.mtime * 1000, `${e.path} mtime`);
    if (holder.type === 'file') {
      assert.ok(stat.isFile(), `${e.path} is a regular file`);
      assert.ok((await readFile(at)).equals(holder.content!), `${e.path} content is byte-equal`);
    }
    if (e.type === 'hardlink' && how.hardlinks === 'linked')
      assert.is(stat.ino, (await lstat(join(work, e.linkname!))).ino, `${e.path} is a hard link`);
    if (e.type === 'symlink') assert.is(await readlink(at), e.linkname, `${e.path} target`);
    if (e.type === 'char')
      assert.ok(stat.isCharacterDevice() && stat.rdev === ((e.devmajor! << 8) | e.devminor!), `${e.path} device`);
    if (e.type === 'block')
      assert.ok(stat.isBlockDevice() && stat.rdev === ((e.devmajor! << 8) | e.devminor!), `${e.path} device`);
    if (e.type === 'fifo') assert.ok(stat.isFIFO());
    if (e.type === 'directory') assert.ok(stat.isDirectory());
  }
}
