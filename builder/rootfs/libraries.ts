// Leaves out the shared libraries nothing in the image links to: packages pull in libraries for features the image never
// uses (QEMU's display and audio modules bring GStreamer, ALSA, SPICE), and a library is known to be used only when a
// kept program or library names it in DT_NEEDED, or when the recipe keeps it because it is loaded with dlopen.
import { posix } from 'node:path';
import { type ElfLinks, readElfLinks } from './elf.ts';
import { type FileTree, resolveInTree } from './tree.ts';

// Where Debian's dynamic linker looks for a NEEDED name on amd64 (its multiarch ld.so.conf entries, then the trusted
// directories); a shared object anywhere below them is a library the pruning may leave out.
export const LIBRARY_DIRS: readonly string[] = Object.freeze([
  'lib/x86_64-linux-gnu',
  'usr/lib/x86_64-linux-gnu',
  'lib64',
  'lib',
  'usr/lib',
]);

// What the pruning removed, and the NEEDED names that no file in the tree provides (each with who needs it).
export interface PrunedLibraries {
  removed: string[];
  unresolved: string[];
}

function isUnderLibraryDir(path: string): boolean {
  return LIBRARY_DIRS.some((dir) => path.startsWith(`${dir}/`));
}

// The regular file holding a path's bytes: symlinks followed, hard links to their target; undefined when missing.
function holderOf(tree: FileTree, path: string): string | undefined {
  const real = resolveInTree(tree, path);
  const entry = tree.get(real);
  if (entry?.type === 'hardlink') return entry.linkname;
  return entry?.type === 'file' ? real : undefined;
}

function findNeeded(tree: FileTree, name: string, from: string, links: ElfLinks): string | undefined {
  if (name.includes('/')) return holderOf(tree, name);
  const origin = posix.dirname(from);
  const dirs = [...links.runpath.map((dir) => dir.replace(/\$(ORIGIN|\{ORIGIN\})/g, `/${origin}`)), ...LIBRARY_DIRS];
  for (const dir of dirs) {
    const found = holderOf(tree, posix.join(dir, name));
    if (found) return found;
  }
  return undefined;
}

function elfFiles(tree: FileTree): Map<string, ElfLinks> {
  const elf = new Map<string, ElfLinks>();
  for (const entry of tree.entries()) {
    if (entry.type !== 'file') continue;
    const links = readElfLinks(entry.content!);
    if (links) elf.set(entry.path, links);
  }
  return elf;
}

// Adds to `used` every ELF file the ones in `pending` load (interpreter and NEEDED, transitively); the names no file in
// the tree provides go to `unresolved`.
function walkNeeded(
  tree: FileTree,
  elf: ReadonlyMap<string, ElfLinks>,
  used: Set<string>,
  pending: string[],
  unresolved: Set<string>,
): void {
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    const links = elf.get(path)!;
    const wanted = links.interpreter ? [links.interpreter, ...links.needed] : links.needed;
    for (const name of wanted) {
      const found = findNeeded(tree, name, path, links);
      if (found && elf.has(found) && !used.has(found)) {
        used.add(found);
        pending.push(found);
      } else if (!found) unresolved.add(`${name} (needed by /${path})`);
    }
  }
}

// The files that hold the given programs and every library they load, transitively (paths as the tree has them, the
// regular file behind each symlink); a program that is not in the tree is left out.
export function linkedFiles(tree: FileTree, programs: readonly string[]): Set<string> {
  const elf = elfFiles(tree);
  const used = new Set<string>();
  for (const program of programs) {
    const holder = holderOf(tree, program.replace(/^\/+/, ''));
    if (holder) used.add(holder);
  }
  walkNeeded(
    tree,
    elf,
    used,
    [...used].filter((path) => elf.has(path)),
    new Set(),
  );
  return used;
}

// Removes every shared object below LIBRARY_DIRS that no executable, no kept library (keep matches its path) and no
// library reached from those needs, with the symlinks that pointed at it. Executables anywhere are kept.
export function pruneUnreferencedLibraries(tree: FileTree, keep: (path: string) => boolean): PrunedLibraries {
  const elf = elfFiles(tree);
  const candidates = new Set(
    [...elf].filter(([path, links]) => links.kind === 'shared-object' && isUnderLibraryDir(path)).map(([p]) => p),
  );
  const used = new Set<string>();
  const unresolved = new Set<string>();
  const pending: string[] = [];
  const use = (path: string): void => {
    if (used.has(path)) return;
    used.add(path);
    pending.push(path);
  };
  for (const path of elf.keys()) if (!candidates.has(path)) use(path);
  for (const entry of tree.entries()) {
    const holder = entry.type === 'symlink' || entry.type === 'hardlink' ? holderOf(tree, entry.path) : entry.path;
    if (holder && candidates.has(holder) && keep(entry.path)) use(holder);
  }
  walkNeeded(tree, elf, used, pending, unresolved);
  const removed = [...candidates].filter((path) => !used.has(path));
  const gone = new Set(removed);
  // Symlinks and hard links that led to a removed library go with it, so nothing dangles.
  const leading = tree
    .entries()
    .filter((e) => (e.type === 'symlink' || e.type === 'hardlink') && !gone.has(e.path))
    .filter((e) => {
      const target = e.type === 'hardlink' ? e.linkname! : resolveInTree(tree, e.path);
      return gone.has(target);
    })
    .map((e) => e.path);
  for (const path of [...leading, ...removed]) tree.remove(path);
  return { removed: [...removed, ...leading].sort(), unresolved: [...unresolved].sort() };
}
