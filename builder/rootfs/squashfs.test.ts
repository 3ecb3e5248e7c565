import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { squashfsCanHold, writeSquashfs } from './squashfs.ts';
import { FileTree, type TreeEntry } from './tree.ts';
import { entry } from './tree-entries.test-support.ts';

const SDE = 1_700_000_000;

// /usr's kinds of files: a program, a setuid one, a setgid one owned by a group, a hard link, a read-only folder.
const ENTRIES: TreeEntry[] = [
  entry('bin', 'directory'),
  entry('bin/qemu', 'file', { mode: 0o755, content: Buffer.from('\x7fELF'.padEnd(300_000, 'q')) }),
  entry('bin/passwd', 'file', { mode: 0o4755, content: Buffer.from('setuid') }),
  entry('bin/chage', 'file', { mode: 0o2755, gid: 42, content: Buffer.from('setgid') }),
  entry('bin/qemu-again', 'hardlink', { linkname: 'bin/qemu' }),
  entry('share/ro', 'directory', { mode: 0o555 }),
  entry('share/ro/data', 'file', { content: Buffer.from('inside a read-only folder') }),
];

function treeOf(entries: TreeEntry[]): FileTree {
  const tree = new FileTree();
  tree.mkdirp('share', { origin: 'test' });
  for (const e of entries) tree.add({ ...e });
  return tree;
}

async function listing(image: Buffer): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-squashfs-test-'));
  try {
    await writeFile(join(dir, 'image'), image);
    const { stdout } = await runTool('unsquashfs', ['-lln', join(dir, 'image')]);
    return (
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/))
        // A folder's size is squashfs's own bookkeeping.
        .map(
          ([mode, owner, size, _date, _time, path]) => `${mode} ${owner} ${mode!.startsWith('d') ? '-' : size} ${path}`,
        )
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the image holds each folder and file with its mode and owner, hard links as one inode, the same bytes twice', async () => {
  const image = await writeSquashfs(treeOf(ENTRIES), { sourceDateEpoch: SDE });
  assert.equal(image.readUInt32LE(0), 0x73717368, 'squashfs magic');
  // The superblock's creation time (bytes 8–11) is SOURCE_DATE_EPOCH.
  assert.is(image.readUInt32LE(8), SDE);
  assert.equal(await listing(image), [
    'drwxr-xr-x 0/0 - squashfs-root',
    'drwxr-xr-x 0/0 - squashfs-root/bin',
    '-rwxr-sr-x 0/42 6 squashfs-root/bin/chage',
    '-rwsr-xr-x 0/0 6 squashfs-root/bin/passwd',
    '-rwxr-xr-x 0/0 300000 squashfs-root/bin/qemu',
    '-rwxr-xr-x 0/0 300000 squashfs-root/bin/qemu-again',
    'drwxr-xr-x 0/0 - squashfs-root/share',
    'dr-xr-xr-x 0/0 - squashfs-root/share/ro',
    '-rw-r--r-- 0/0 25 squashfs-root/share/ro/data',
  ]);
  const again = await writeSquashfs(treeOf([0, 5, 6, 3, 2, 1, 4].map((i) => ENTRIES[i]!)), { sourceDateEpoch: SDE });
  assert.ok(again.equals(image), 'the same tree gives the same bytes');
});

test('the contents read back whole, and the hard link shares its inode', async () => {
  const image = await writeSquashfs(treeOf(ENTRIES), { sourceDateEpoch: SDE });
  const dir = await mkdtemp(join(tmpdir(), 'mvos-squashfs-test-'));
  try {
    await writeFile(join(dir, 'image'), image);
    await runTool('unsquashfs', ['-no-xattrs', '-d', join(dir, 'out'), join(dir, 'image')]);
    assert.equal(await readFile(join(dir, 'out/bin/qemu')), ENTRIES[1]!.content);
    assert.is((await stat(join(dir, 'out/bin/qemu'))).ino, (await stat(join(dir, 'out/bin/qemu-again'))).ino);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a symlink, a device or a path a pseudo file cannot name plainly is refused, not packed wrongly', async () => {
  assert.ok(squashfsCanHold('lib/x86_64-linux-gnu/libc.so.6'));
  for (const path of ['bin/a b', 'bin/new\nline', 'bin/"q"', 'bin/back\\slash', '/abs', 'a//b']) {
    assert.not.ok(squashfsCanHold(path), path);
  }
  for (const bad of [
    entry('bin/sh', 'symlink', { linkname: 'busybox' }),
    entry('bin/odd name', 'file', { content: Buffer.from('x') }),
  ]) {
    try {
      await writeSquashfs(treeOf([entry('bin', 'directory'), bad]), { sourceDateEpoch: SDE });
      assert.unreachable(`${bad.path} was packed`);
    } catch (error) {
      assert.instance(error, FailureError);
      assert.match((error as Error).message, bad.path);
    }
  }
});

test.run();
