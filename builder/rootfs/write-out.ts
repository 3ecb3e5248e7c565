// Writes a tree out to a folder for a file-system maker (mkfs.erofs, mksquashfs) to pack: files with their modes, symlinks,
// hard links and folders; owners stay the builder's (the makers set them).
import { chmod, link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FileTree, TreeEntry } from './tree.ts';

async function writeEntry(root: string, e: Readonly<TreeEntry>): Promise<boolean> {
  const target = join(root, e.path);
  if (e.type !== 'directory') await mkdir(dirname(target), { recursive: true });
  switch (e.type) {
    case 'directory':
      await mkdir(target, { recursive: true });
      return true;
    case 'file':
      await writeFile(target, e.content!);
      await chmod(target, e.mode);
      return true;
    case 'symlink':
      await symlink(e.linkname!, target);
      return true;
    case 'hardlink':
      await link(join(root, e.linkname!), target);
      return true;
    default:
      return false;
  }
}

// Writes the tree below `root` (an existing, empty folder) and returns the entries it left out (device nodes and fifos).
// Folder modes are set last, children first, so a read-only folder does not stop its own filling.
export async function writeTreeOut(tree: FileTree, root: string): Promise<string[]> {
  const skipped: string[] = [];
  for (const e of tree.entries()) if (!(await writeEntry(root, e))) skipped.push(e.path);
  const dirs = tree.entries().filter((e) => e.type === 'directory');
  for (const d of [...dirs].reverse()) await chmod(join(root, d.path), d.mode);
  return skipped;
}
