import { lstat, mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkfsErofs, uuidFromDigest } from '../../common/erofs.ts';
import { FailureError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { treeDigest, writeErofs } from './erofs.ts';
import { FileTree, type TreeEntry } from './tree.ts';
import { entry } from './tree-entries.test-support.ts';

const SDE = 1_700_000_000;

const ENTRIES: TreeEntry[] = [
  entry('bin', 'directory'),
  entry('bin/busybox', 'file', { mode: 0o755, content: Buffer.from('#!/bin/sh\necho hi\n') }),
  entry('bin/sh', 'symlink', { linkname: 'busybox' }),
  entry('bin/su', 'file', { mode: 0o4755, content: Buffer.from('setuid') }),
  entry('bin/su-again', 'hardlink', { linkname: 'bin/su' }),
  entry('root', 'directory', { mode: 0o700 }),
  entry('root/.profile', 'file', { mode: 0o600, content: Buffer.from('x'.repeat(20_000)), uid: 1000, gid: 1000 }),
  entry('etc/ro', 'directory', { mode: 0o555 }),
  entry('etc/ro/file', 'file', { content: Buffer.from('inside a read-only folder') }),
  entry('dev/console', 'char', { mode: 0o600, devmajor: 5, devminor: 1 }),
];

function treeOf(entries: TreeEntry[]): FileTree {
  const tree = new FileTree();
  for (const e of entries) tree.add({ ...e });
  return tree;
}

async function extract(image: Buffer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-erofs-test-'));
  await runTool('sh', ['-c', 'cat > "$1"', 'sh', join(dir, 'image')], { input: image });
  await runTool('fsck.erofs', [`--extract=${join(dir, 'out')}`, '--preserve-perms', join(dir, 'image')]);
  return dir;
}

// dump.erofs and fsck.erofs print and extract only the 0777 bits; the inode itself (i_mode at +4, inodes at
// meta_blkaddr) has all of them.
async function nidOf(file: string, path: string): Promise<number> {
  return Number(/NID: (\d+)/.exec((await runTool('dump.erofs', [`--path=${path}`, file])).stdout)![1]);
}

async function rawMode(image: Buffer, file: string, path: string): Promise<number> {
  const nid = await nidOf(file, path);
  const metaBlock = image.readUInt32LE(1024 + 40);
  return image.readUInt16LE(metaBlock * 4096 + nid * 32 + 4);
}

test('the same tree, added in any order, gives the same image bytes and UUID', async () => {
  const a = await writeErofs(treeOf(ENTRIES), { sourceDateEpoch: SDE });
  const reordered = [
    ...ENTRIES.filter((e) => e.type !== 'hardlink').reverse(),
    ...ENTRIES.filter((e) => e.type === 'hardlink'),
  ];
  const b = await writeErofs(treeOf(reordered), { sourceDateEpoch: SDE });
  assert.ok(a.image.equals(b.image), 'byte-identical images');
  assert.is(a.uuid, b.uuid);
  const changed = await writeErofs(treeOf([...ENTRIES, entry('etc/new', 'file', { content: Buffer.from('1') })]), {
    sourceDateEpoch: SDE,
  });
  assert.is.not(changed.uuid, a.uuid, 'other content, other UUID');
});

test('the image holds the tree: contents, modes, symlinks, hard links, root owners, SOURCE_DATE_EPOCH; device nodes left out', async () => {
  const built = await writeErofs(treeOf(ENTRIES), { sourceDateEpoch: SDE });
  assert.equal(built.skipped, ['dev/console']);
  assert.is(built.image.readUInt32LE(1024), 0xe0f5e1e2, 'EROFS superblock magic at 1 KiB');
  const dir = await extract(built.image);
  try {
    const out = join(dir, 'out');
    assert.is(await readFile(join(out, 'bin/busybox'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.is((await stat(join(out, 'bin/busybox'))).mode & 0o7777, 0o755);
    assert.is(await rawMode(built.image, join(dir, 'image'), '/bin/su'), 0o104755, 'setuid bit kept');
    assert.is(await readlink(join(out, 'bin/sh')), 'busybox');
    assert.is(
      await nidOf(join(dir, 'image'), '/bin/su'),
      await nidOf(join(dir, 'image'), '/bin/su-again'),
      'hard link shares the inode',
    );
    assert.is((await stat(join(out, 'root'))).mode & 0o7777, 0o700);
    assert.is((await stat(join(out, 'etc/ro'))).mode & 0o7777, 0o555);
    assert.is((await readFile(join(out, 'root/.profile'), 'utf8')).length, 20_000);
    const info = (await runTool('dump.erofs', ['--path=/root/.profile', join(dir, 'image')])).stdout;
    assert.match(info, /Uid: 0\s+Gid: 0/, 'owners all root');
    assert.match(
      info,
      new RegExp(`Timestamp: ${new Date(SDE * 1000).toISOString().slice(0, 10)}|${SDE}`),
      'timestamp is SOURCE_DATE_EPOCH',
    );
    assert.is((await lstat(join(out, 'dev'))).isDirectory(), true, 'the parent of a skipped node is still there');
    const sb = (await runTool('dump.erofs', ['-s', join(dir, 'image')])).stdout;
    assert.ok(sb.includes(built.uuid), `superblock carries the content UUID ${built.uuid}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('treeDigest sees a mode change', () => {
  const a = treeDigest(treeOf(ENTRIES));
  const b = treeDigest(treeOf(ENTRIES.map((e) => (e.path === 'bin/su' ? { ...e, mode: 0o755 } : e))));
  assert.is.not(a, b);
});

test('mkfs.erofs failing is a FailureError that says what it was packing', async () => {
  const err = await mkfsErofs('/nonexistent/mvos-erofs-source', join(tmpdir(), 'mvos-erofs-never.img'), {
    sourceDateEpoch: SDE,
    uuid: uuidFromDigest('x'),
    allRoot: true,
  }).catch((e: unknown) => e);
  assert.instance(err, FailureError);
  assert.match((err as Error).message, /mkfs\.erofs failed on \/nonexistent\/mvos-erofs-source/);
});

test.run();
