// The in-memory root file system every image is assembled in: paths, types, modes and owners, no timestamps.
import { FailureError } from '../../common/errors.ts';
import { type DebEntryType, debDataEntries } from '../inputs/deb.ts';

// The kinds of entry a tree holds ('hardlink' names another file of the same tree).
export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

// The S_IFMT bits of each entry type, as stat(2), tar and cpio encode them (a hard link is a regular file).
export const fileTypeBits: Record<EntryType, number> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  hardlink: 0o100000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
};

// One file system entry; `path` is relative and normalised ('usr/bin/x'), `mode` holds permission bits only (0o7777).
export interface TreeEntry {
  path: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  content?: Buffer;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  origin: string;
}

// A root-owned regular file.
export function rootFile(path: string, content: Buffer | string, origin: string, mode = 0o644): TreeEntry {
  return {
    path,
    type: 'file',
    mode,
    uid: 0,
    gid: 0,
    content: Buffer.isBuffer(content) ? content : Buffer.from(content),
    origin,
  };
}

const ENTRY_TYPES: readonly EntryType[] = ['file', 'directory', 'symlink', 'hardlink', 'char', 'block', 'fifo'];
const EMPTY = Buffer.alloc(0);
// Linux gives up after 40 symlinks in one lookup (ELOOP); a tree that needs more is broken the same way.
const MAX_SYMLINK_HOPS = 40;

// Normalises a path to the tree's form: no leading '/' or './', no trailing '/', no empty or '.' segments; '..' is
// refused.
export function normaliseTreePath(path: string): string {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..'))
    throw new FailureError(`path ${JSON.stringify(path)} leaves the tree: '..' is not allowed in an entry path`);
  if (parts.some((part) => part.includes('\0')))
    throw new FailureError(`path ${JSON.stringify(path)} contains a NUL byte`);
  return parts.join('/');
}

// NUL sorts below every other byte, so comparing with '/' as NUL orders by segments: 'a' < 'a/b' < 'a-b'.
function sortKey(path: string): Buffer {
  return Buffer.from(path.replaceAll('/', '\0'), 'utf8');
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

// A root file system held in memory; entries are frozen, so a caller cannot change one behind the tree's back.
export class FileTree {
  readonly #entries = new Map<string, Readonly<TreeEntry>>();
  // Hard link targets to the links that point at them, to keep links whole when a target is replaced or removed.
  readonly #links = new Map<string, Set<string>>();
  #sorted: Readonly<TreeEntry>[] | undefined;

  // Adds an entry, creating missing parent directories; a directory over a directory merges (the new mode and owner
  // win).
  add(entry: TreeEntry, options: { replace?: boolean } = {}): void {
    const replace = options.replace ?? true;
    const next = this.#validate(entry);
    const existing = this.#entries.get(next.path);
    if (existing) {
      if (existing.type === 'directory' && next.type !== 'directory') {
        throw new FailureError(
          `cannot add ${next.type} ${next.path} (${next.origin}): a directory is already there (${existing.origin})`,
          {
            hint: 'remove the directory first, or put the entry somewhere else',
          },
        );
      }
      if (!(existing.type === 'directory' && next.type === 'directory') && !replace) {
        throw new FailureError(
          `cannot add ${next.type} ${next.path} (${next.origin}): ${existing.type} from ${existing.origin} is already there`,
        );
      }
    }
    this.#ensureParents(next.path);
    if (next.type === 'hardlink') {
      const target = this.#entries.get(next.linkname!);
      if (!target || (target.type !== 'file' && target.type !== 'hardlink')) {
        throw new FailureError(
          `hard link ${next.path} (${next.origin}) points to ${next.linkname}, which is ${target ? `a ${target.type}` : 'not in the tree'}`,
          {
            hint: 'add the regular file a hard link points to before the link',
          },
        );
      }
      // Links always name the file that holds the content, so no chain of links can form.
      if (target.type === 'hardlink') next.linkname = target.linkname;
      if (next.linkname === next.path)
        throw new FailureError(`hard link ${next.path} (${next.origin}) points to itself`);
    }
    if (existing) this.#detach(existing);
    this.#entries.set(next.path, Object.freeze(next));
    if (next.type === 'hardlink') this.#linksTo(next.linkname!).add(next.path);
    this.#sorted = undefined;
  }

  // The entry at a path, or undefined.
  get(path: string): Readonly<TreeEntry> | undefined {
    return this.#entries.get(normaliseTreePath(path));
  }

  // Whether an entry exists at a path (the root always does).
  has(path: string): boolean {
    const normal = normaliseTreePath(path);
    return normal === '' || this.#entries.has(normal);
  }

  // Removes an entry, and everything below it when it is a directory; returns how many entries went.
  remove(path: string): number {
    const normal = normaliseTreePath(path);
    if (normal === '') throw new FailureError('cannot remove the root of the tree');
    const entry = this.#entries.get(normal);
    if (!entry) return 0;
    const doomed = [entry];
    if (entry.type === 'directory') {
      const prefix = `${normal}/`;
      for (const [key, value] of this.#entries) if (key.startsWith(prefix)) doomed.push(value);
    }
    for (const gone of doomed) this.#entries.delete(gone.path);
    for (const gone of doomed) this.#detach(gone);
    this.#sorted = undefined;
    return doomed.length;
  }

  // Creates a directory and its missing parents like `mkdir -p -m`: the mode applies to the last one, parents get
  // 0o755.
  mkdirp(path: string, options: { mode?: number; origin: string }): void {
    const normal = normaliseTreePath(path);
    if (normal === '') return;
    const parts = normal.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join('/');
      const existing = this.#entries.get(sub);
      if (existing?.type === 'directory') continue;
      if (existing) {
        throw new FailureError(
          `cannot create directory ${normal} (${options.origin}): ${sub} is a ${existing.type} from ${existing.origin}`,
          {
            hint: existing.type === 'symlink' ? 'resolve the path through the tree first (resolveInTree)' : undefined,
          },
        );
      }
      const mode = i === parts.length ? (options.mode ?? 0o755) : 0o755;
      this.add({ path: sub, type: 'directory', mode, uid: 0, gid: 0, origin: options.origin });
    }
  }

  // Every entry, parents before children, ordered bytewise by path segments ('a', 'a/b', 'a-b').
  entries(): readonly Readonly<TreeEntry>[] {
    if (!this.#sorted) {
      const keyed = [...this.#entries.values()].map((entry) => ({ entry, key: sortKey(entry.path) }));
      keyed.sort((a, b) => Buffer.compare(a.key, b.key));
      this.#sorted = Object.freeze(keyed.map(({ entry }) => entry)) as Readonly<TreeEntry>[];
    }
    return this.#sorted;
  }

  // How many entries the tree holds (the root is not one).
  get size(): number {
    return this.#entries.size;
  }

  // The bytes held by regular files; a hard link shares its target's bytes and adds none.
  get contentBytes(): number {
    let total = 0;
    for (const entry of this.#entries.values()) if (entry.type === 'file') total += entry.content!.length;
    return total;
  }

  // An independent copy; contents are shared because no entry's Buffer is ever written to.
  clone(): FileTree {
    const copy = new FileTree();
    for (const [path, entry] of this.#entries) copy.#entries.set(path, entry);
    for (const [target, links] of this.#links) copy.#links.set(target, new Set(links));
    return copy;
  }

  #validate(entry: TreeEntry): TreeEntry {
    const path = normaliseTreePath(entry.path);
    const what = `${entry.type} ${JSON.stringify(entry.path)} (${entry.origin})`;
    if (path === '') throw new FailureError(`cannot add ${what}: the root of the tree is not an entry`);
    if (!ENTRY_TYPES.includes(entry.type)) throw new FailureError(`cannot add ${what}: unknown entry type`);
    if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) {
      throw new FailureError(`cannot add ${what}: mode ${entry.mode} is not a permission mask (0 to 0o7777)`);
    }
    for (const id of ['uid', 'gid'] as const) {
      if (!Number.isInteger(entry[id]) || entry[id] < 0 || entry[id] > 0xffffffff)
        throw new FailureError(`cannot add ${what}: bad ${id} ${entry[id]}`);
    }
    if (!entry.origin) throw new FailureError(`cannot add ${what}: every entry needs an origin`);
    const next: TreeEntry = {
      path,
      type: entry.type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      origin: entry.origin,
    };
    if (entry.type === 'file') next.content = entry.content ?? EMPTY;
    else if (entry.content !== undefined && entry.content.length > 0)
      throw new FailureError(`cannot add ${what}: only regular files have content`);
    if (entry.type === 'symlink') {
      if (!entry.linkname) throw new FailureError(`cannot add ${what}: a symlink needs a target`);
      next.linkname = entry.linkname;
    }
    if (entry.type === 'hardlink') {
      const target = normaliseTreePath(entry.linkname ?? '');
      if (target === '') throw new FailureError(`cannot add ${what}: a hard link needs a target`);
      next.linkname = target;
    }
    if (entry.type === 'char' || entry.type === 'block') {
      next.devmajor = entry.devmajor ?? 0;
      next.devminor = entry.devminor ?? 0;
    }
    return next;
  }

  #ensureParents(path: string): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const sub = parts.slice(0, i).join('/');
      const existing = this.#entries.get(sub);
      if (existing?.type === 'directory') continue;
      if (existing) {
        throw new FailureError(
          `cannot add ${path}: its parent ${sub} is a ${existing.type} (${existing.origin}), not a directory`,
          {
            hint: existing.type === 'symlink' ? 'resolve the path through the tree first (resolveInTree)' : undefined,
          },
        );
      }
      this.#entries.set(
        sub,
        Object.freeze({ path: sub, type: 'directory', mode: 0o755, uid: 0, gid: 0, origin: 'implied' }),
      );
    }
  }

  #linksTo(target: string): Set<string> {
    let links = this.#links.get(target);
    if (!links) {
      links = new Set();
      this.#links.set(target, links);
    }
    return links;
  }

  // An entry is leaving: a link stops counting on its target, and links to a leaving file keep its old content, as on
  // disk.
  #detach(entry: Readonly<TreeEntry>): void {
    if (entry.type === 'hardlink') {
      this.#links.get(entry.linkname!)?.delete(entry.path);
      return;
    }
    if (entry.type !== 'file') return;
    const links = [...(this.#links.get(entry.path) ?? [])].filter(
      (link) => this.#entries.get(link)?.type === 'hardlink',
    );
    this.#links.delete(entry.path);
    links.sort((a, b) => Buffer.compare(sortKey(a), sortKey(b)));
    const [heir, ...rest] = links;
    if (heir === undefined) return;
    const old = this.#entries.get(heir)!;
    this.#entries.set(heir, Object.freeze({ ...entry, path: heir, origin: old.origin }));
    for (const link of rest) {
      this.#entries.set(link, Object.freeze({ ...this.#entries.get(link)!, linkname: heir }));
      this.#linksTo(heir).add(link);
    }
  }
}

// Resolves a path through the tree's symlinks (absolute targets start at the tree's root), like realpath -m;
// followLast=false leaves a final symlink as it is.
export function resolveInTree(tree: FileTree, path: string, options: { followLast?: boolean } = {}): string {
  const followLast = options.followLast ?? true;
  let pending = path.split('/').filter((part) => part !== '' && part !== '.');
  let resolved: string[] = [];
  let hops = 0;
  for (let part = pending.shift(); part !== undefined; part = pending.shift()) {
    if (part === '.' || part === '') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part].join('/');
    const entry = tree.get(candidate);
    if (entry?.type === 'symlink' && (pending.length > 0 || followLast)) {
      if (++hops > MAX_SYMLINK_HOPS) {
        throw new FailureError(
          `cannot resolve ${path} in the tree: more than ${MAX_SYMLINK_HOPS} symlinks (a loop at ${candidate} -> ${entry.linkname}?)`,
        );
      }
      const target = entry.linkname!;
      if (target.startsWith('/')) resolved = [];
      pending = [...target.split('/'), ...pending];
      continue;
    }
    resolved.push(part);
  }
  return resolved.join('/');
}

const DEB_TYPES: Record<DebEntryType, EntryType> = {
  file: 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

// Unpacks a package's data into the tree the way dpkg does: through symlinked directories already there (bin ->
// usr/bin), later files replacing earlier ones.
export async function addDebToTree(
  tree: FileTree,
  debBuffer: Buffer,
  options: { origin: string; keep?: (path: string) => boolean; label?: string },
): Promise<{ added: number; dropped: string[] }> {
  const label = options.label ?? options.origin;
  const dropped: string[] = [];
  // What a dropped file held, for hard links that point at it.
  const droppedFiles = new Map<string, TreeEntry>();
  // Where each archive path landed in the tree, for hard links that name it.
  const placed = new Map<string, string>();
  let added = 0;
  for await (const { header, content } of debDataEntries(debBuffer, label)) {
    const type = DEB_TYPES[header.type];
    const base = { type, mode: header.mode, uid: header.uid, gid: header.gid, origin: options.origin };
    if (options.keep && !options.keep(header.name)) {
      dropped.push(header.name);
      if (type === 'file') droppedFiles.set(header.name, { ...base, path: header.name, content });
      if (type === 'hardlink' && droppedFiles.has(header.linkname!))
        droppedFiles.set(header.name, droppedFiles.get(header.linkname!)!);
      continue;
    }
    const path = landingPath(tree, header.name);
    if (type === 'directory') {
      // dpkg keeps a symlink to a directory where a package ships a directory (merged /usr relies on it).
      const existing = tree.get(path);
      if (existing?.type === 'symlink' && tree.get(resolveInTree(tree, path))?.type === 'directory') {
        placed.set(header.name, resolveInTree(tree, path));
        continue;
      }
    }
    try {
      if (type === 'hardlink') {
        const gone = droppedFiles.get(header.linkname!);
        if (gone) {
          tree.add({ ...gone, path, origin: options.origin });
          droppedFiles.delete(header.linkname!);
          placed.set(header.linkname!, path);
        } else {
          tree.add({ ...base, path, linkname: placed.get(header.linkname!) ?? landingPath(tree, header.linkname!) });
        }
      } else {
        tree.add({
          ...base,
          path,
          content: type === 'file' ? content : undefined,
          linkname: header.linkname,
          devmajor: header.devmajor,
          devminor: header.devminor,
        });
      }
    } catch (error) {
      if (error instanceof FailureError)
        throw new FailureError(`${label}: ${error.message}`, { hint: error.hint, cause: error });
      throw error;
    }
    placed.set(header.name, path);
    added++;
  }
  return { added, dropped };
}

// Adds an entry the way dpkg unpacks one: its parent (and a hard link's target) resolved through the tree's symlinks, and
// a directory where a symlink to a directory already stands left as that symlink (merged /usr: lib -> usr/lib). Returns
// the path it landed at.
export function placeEntry(tree: FileTree, entry: TreeEntry): string {
  const path = landingPath(tree, entry.path);
  if (entry.type === 'directory' && tree.get(path)?.type === 'symlink') {
    const target = resolveInTree(tree, path);
    if (tree.get(target)?.type === 'directory') return target;
  }
  const linkname = entry.type === 'hardlink' ? landingPath(tree, entry.linkname!) : entry.linkname;
  tree.add({ ...entry, path, linkname });
  return path;
}

// The path an archive member lands at: its parent resolved through the tree's symlinks, its own name kept.
function landingPath(tree: FileTree, name: string): string {
  const parent = parentOf(name);
  const base = name.slice(parent === '' ? 0 : parent.length + 1);
  const dir = parent === '' ? '' : resolveInTree(tree, parent);
  return dir === '' ? base : `${dir}/${base}`;
}

// Whether two entries are the same file: type, mode, owner, link, device and content (not their origin).
export function sameEntry(a: Readonly<TreeEntry>, b: Readonly<TreeEntry>): boolean {
  return (
    a === b ||
    (a.type === b.type &&
      a.mode === b.mode &&
      a.uid === b.uid &&
      a.gid === b.gid &&
      a.linkname === b.linkname &&
      a.devmajor === b.devmajor &&
      a.devminor === b.devminor &&
      (a.content === b.content || (a.content !== undefined && b.content !== undefined && a.content.equals(b.content))))
  );
}

// The paths of `tree` whose entries `layer` (the tree it was made from) holds as they are, sorted.
export function unchangedPaths(tree: FileTree, layer: FileTree): string[] {
  return tree
    .entries()
    .filter((entry) => {
      const before = layer.get(entry.path);
      return before !== undefined && sameEntry(before, entry);
    })
    .map((entry) => entry.path);
}
