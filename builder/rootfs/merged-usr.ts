// Merged /usr: from Debian 13 on, packages ship their programs and libraries below /usr only, and base-files (which no
// image installs) makes /bin, /sbin, /lib and /lib64 links into it. The builder makes those links itself.
import type { DebianSuite } from '../recipe/types.ts';
import type { FileTree } from './tree.ts';

// The top-level links of a merged-/usr system, as base-files ships them (relative targets).
export const MERGED_USR_LINKS: ReadonlyArray<readonly [link: string, target: string]> = [
  ['bin', 'usr/bin'],
  ['lib', 'usr/lib'],
  ['lib64', 'usr/lib64'],
  ['sbin', 'usr/sbin'],
];

// Whether a release's packages rely on merged /usr (Debian 12 still ships /bin and /lib files of its own).
export function isMergedUsr(suite: DebianSuite): boolean {
  return suite !== 'bookworm';
}

// Adds the /usr folders and the links into them to an empty tree, before any package is unpacked over it (dpkg then
// puts a package's /bin/x at /usr/bin/x, as on an installed system).
export function addMergedUsrLinks(tree: FileTree, origin: string): void {
  for (const [link, target] of MERGED_USR_LINKS) {
    tree.mkdirp(target, { origin });
    tree.add({ path: link, type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: target, origin });
  }
}
