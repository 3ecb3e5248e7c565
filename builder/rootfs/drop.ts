// Which package paths never reach an image: documentation, manuals, translations and packaging metadata.
import { UserError } from '../../common/errors.ts';
import { type FileTree, resolveInTree } from './tree.ts';

// Dropped from every package. Copyright files go with the rest of usr/share/doc: the image ships no documents, and the
// SBOM reads each licence from the pinned .deb itself.
export const defaultDropRules: readonly string[] = Object.freeze([
  'usr/share/doc/**',
  'usr/share/doc-base/**',
  'usr/share/man/**',
  'usr/share/info/**',
  'usr/share/locale/**',
  'usr/share/lintian/**',
  'usr/share/bug/**',
  'usr/share/gtk-doc/**',
  'usr/share/help/**',
]);

// Compiles globs into one matcher of whole relative paths: `*` and `?` stay within a segment, `**` spans segments (zero
// or more, so 'a/**' matches 'a' too); a leading '/' is ignored.
export function compileGlobs(globs: readonly string[]): (path: string) => boolean {
  if (globs.length === 0) return () => false;
  const regex = new RegExp(`^(?:${globs.map(globToRegex).join('|')})$`, 'u');
  return (path: string) => regex.test(path.replace(/^\/+/, '').replace(/\/+$/, ''));
}

// The keep-filter for package contents: the default rules plus the recipe's own, and the full list for the manifest.
export function dropFilter(extra: readonly string[]): { keep: (path: string) => boolean; rules: string[] } {
  const rules = [...defaultDropRules, ...extra];
  const drop = compileGlobs(rules);
  return { keep: (path) => !drop(path), rules };
}

function globToRegex(glob: string): string {
  const pattern = glob.replace(/^\/+/, '').replace(/\/+$/, '');
  if (pattern === '') {
    throw new UserError(`drop rule ${JSON.stringify(glob)} is empty`, {
      hint: "write a path glob such as 'usr/share/doc/**'",
    });
  }
  const segments = pattern.split('/');
  let out = '';
  segments.forEach((segment, index) => {
    const first = index === 0;
    const last = index === segments.length - 1;
    if (segment === '**') {
      // Zero or more whole segments, with the separators around them.
      if (first && last) out += '.*';
      else if (first) out += '(?:[^/]+/)*';
      else if (last) out += '(?:/.*)?';
      else out += '(?:/[^/]+)*';
      return;
    }
    // A leading '**' already ends in '/'; every other segment needs its separator.
    if (!first && !(index === 1 && segments[0] === '**')) out += '/';
    out += segmentToRegex(segment);
  });
  return out;
}

function segmentToRegex(segment: string): string {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const char = segment.charAt(i);
    if (char === '*') {
      // A '**' inside a segment ('lib**') crosses '/' like a bare one.
      if (segment[i + 1] === '*') {
        out += '.*';
        i++;
      } else out += '[^/]*';
    } else if (char === '?') out += '[^/]';
    else out += char.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return out;
}

// Removes the symlinks whose target a drop rule left out (they would dangle in the image: iPXE's NIC-named links to the
// ROMs dropped) and returns their paths; links to what was never there are left as the package made them.
export function dropLinksToDropped(tree: FileTree, keep: (path: string) => boolean): string[] {
  const removed: string[] = [];
  for (const entry of tree.entries().filter((e) => e.type === 'symlink')) {
    const target = resolveInTree(tree, entry.path);
    if (tree.has(target) || keep(target)) continue;
    tree.remove(entry.path);
    removed.push(entry.path);
  }
  return removed;
}
