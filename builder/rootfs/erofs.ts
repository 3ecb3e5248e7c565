// An image's root tree as a read-only EROFS disk, without root or loop mounts: the tree is written out to a scratch
// folder and mkfs.erofs packs it, owners all root, timestamps SOURCE_DATE_EPOCH, UUID from the content.
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkfsErofs, uuidFromDigest } from '../../common/erofs.ts';
import type { FileTree } from './tree.ts';
import { writeTreeOut } from './write-out.ts';

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

// Writes the tree out and packs it.
export async function writeErofs(tree: FileTree, options: { sourceDateEpoch: number }): Promise<ErofsImage> {
  const scratch = await mkdtemp(join(tmpdir(), 'mvos-erofs-'));
  try {
    const root = join(scratch, 'root');
    await mkdir(root);
    const skipped = await writeTreeOut(tree, root);
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
