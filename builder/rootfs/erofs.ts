// An image's root tree as a read-only EROFS disk, without root or loop mounts: the tree is written out to a scratch
// folder and mkfs.erofs packs it, owners all root, timestamps SOURCE_DATE_EPOCH, UUID from the content.
import { createHash } from 'node:crypto';
import { chmod, link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { mkfsErofs, uuidFromDigest } from '../../common/erofs.ts';
import type { FileTree, TreeEntry } from './tree.ts';

// What writeErofs made: the image and the entries it left out (device nodes and fifos: devtmpfs provides them at boot).
export interface ErofsImage {
  image: Buffer;
  uuid: string;
  skipped: string[];
}

// A digest of everything the image holds, in the tree's own sorted order: the same tree, the same UUID.
export function treeDigest(tree: FileTree): string {
  const hash = createHash('sha256');
  for (const e of tree.entries()) {
    const content = e.content ? createHash('sha256').update(e.content).digest('hex') : '';
    hash.update(JSON.stringify([e.path, e.type, e.mode, e.linkname ?? '', content]));
    hash.update('\n');
  }
  return hash.digest('hex');
}

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

// Writes the tree out and packs it. Folder modes are set last, children first, so a read-only folder does not stop its
// own filling.
export async function writeErofs(tree: FileTree, options: { sourceDateEpoch: number }): Promise<ErofsImage> {
  const scratch = await mkdtemp(join(tmpdir(), 'mvos-erofs-'));
  try {
    const root = join(scratch, 'root');
    await mkdir(root);
    const skipped: string[] = [];
    for (const e of tree.entries()) if (!(await writeEntry(root, e))) skipped.push(e.path);
    const dirs = tree.entries().filter((e) => e.type === 'directory');
    for (const d of [...dirs].reverse()) await chmod(join(root, d.path), d.mode);
    await chmod(root, 0o755);
    const uuid = uuidFromDigest(treeDigest(tree));
    const image = await mkfsErofs(root, join(scratch, 'root.erofs'), {
      sourceDateEpoch: options.sourceDateEpoch,
      uuid,
      allRoot: true,
    });
    return { image, uuid, skipped };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
