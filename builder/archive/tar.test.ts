import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { FileTree } from '../rootfs/tree.ts';
import { assertExtracted, busyboxTree, entry, lsMode } from '../rootfs/tree-entries.test-support.ts';
import { readTar, writeTar } from './tar.ts';

// GNU tar prints mtimes in local time; pin the zone so listings compare.
const UTC = { TZ: 'UTC' };
const MTIME = 1700000000; // 2023-11-14 22:13 UTC
const LONG_DIR = `usr/lib/${'very-long-directory-name-'.repeat(5)}`;
const LONG_NAME = `${LONG_DIR}/${'f'.repeat(120)}.bin`;
const UNICODE = 'usr/share/zoneinfo/América/São_Paulo — ünïcødé ✓';

// Every kind of entry, names that need pax records, odd modes and owners, and a hard link that sorts before its target.
function sampleTree(options: { devices?: boolean } = {}): FileTree {
  const tree = new FileTree();
  tree.add(entry('bin/busybox', 'file', { mode: 0o755, content: Buffer.from('#!/bin/sh\necho busybox\n') }));
  tree.add(entry('bin/a-link', 'hardlink', { linkname: 'bin/busybox' }));
  tree.add(entry('bin/z-link', 'hardlink', { linkname: 'bin/busybox' }));
  tree.add(entry('bin/sh', 'symlink', { linkname: 'busybox' }));
  tree.add(entry('usr/bin/su', 'file', { mode: 0o4755, content: Buffer.from('setuid') }));
  tree.add(entry('usr/bin/wall', 'file', { mode: 0o2755, gid: 5, content: Buffer.from('setgid') }));
  tree.add(entry('tmp', 'directory', { mode: 0o1777 }));
  tree.add(entry('home/user/.profile', 'file', { uid: 1000, gid: 1000, content: Buffer.from('export PS1=$\n') }));
  tree.add(entry('home/user', 'directory', { mode: 0o700, uid: 1000, gid: 1000 }));
  tree.add(entry('etc/shadow', 'file', { mode: 0o000, content: Buffer.from('root:*:1::::::\n') }));
  tree.add(entry('etc/empty', 'file', { content: Buffer.alloc(0) }));
  tree.add(entry('etc/mtab', 'symlink', { linkname: '/proc/self/mounts' }));
  tree.add(entry(LONG_NAME, 'file', { content: Buffer.from('long') }));
  tree.add(entry(`${LONG_DIR}/link-to-long`, 'hardlink', { linkname: LONG_NAME }));
  tree.add(entry(`${LONG_DIR}/symlink-to-long`, 'symlink', { linkname: `/${LONG_NAME}` }));
  tree.add(entry(UNICODE, 'file', { content: Buffer.from('TZif') }));
  tree.add(entry('big.bin', 'file', { content: Buffer.alloc(70000, 0xa5) }));
  tree.add(entry('run/initctl', 'fifo', { mode: 0o600 }));
  if (options.devices !== false) {
    tree.add(entry('dev/console', 'char', { mode: 0o600, devmajor: 5, devminor: 1 }));
    tree.add(entry('dev/vda', 'block', { mode: 0o660, gid: 6, devmajor: 254, devminor: 0 }));
  }
  return tree;
}

function tarMode(type: string, mode: number): string {
  return lsMode(
    { file: '-', directory: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p' }[type]!,
    mode,
  );
}

// What `tar --numeric-owner -tvf` must print for a tree: the first path of a hard-link group holds the content, the
// rest link to it.
function expectedListing(tree: FileTree): string[] {
  const first = new Map<string, string>();
  return tree.entries().map((e) => {
    const holder = e.type === 'hardlink' ? tree.get(e.linkname!)! : e;
    let type: string = e.type;
    let size = e.type === 'char' || e.type === 'block' ? `${e.devmajor},${e.devminor}` : '0';
    let suffix = e.type === 'symlink' ? ` -> ${e.linkname}` : '';
    if (holder.type === 'file') {
      const seen = first.get(holder.path);
      if (seen === undefined) {
        first.set(holder.path, e.path);
        type = 'file';
        size = String(holder.content!.length);
      } else {
        type = 'hardlink';
        suffix = ` link to ${seen}`;
      }
    }
    const name = e.type === 'directory' ? `${e.path}/` : e.path;
    return `${tarMode(type, holder.mode)} ${holder.uid}/${holder.gid} ${size} 2023-11-14 22:13 ${name}${suffix}`;
  });
}

// GNU tar pads columns with spaces; collapse them so the rows compare field by field.
const rows = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.replace(/ +/g, ' ').replace(/(\d+), (\d+)/, '$1,$2'));

test('GNU tar lists every entry: types, modes, numeric owners, sizes, mtime, link targets, long and non-ASCII names', async () => {
  const tree = sampleTree();
  const tarball = await writeTar(tree, { mtime: MTIME });
  assert.is(tarball.length % 512, 0);
  const numeric = await runTool('tar', ['--numeric-owner', '-tvf', '-'], { input: tarball, env: UTC });
  assert.equal(rows(numeric.stdout), expectedListing(tree));
  // Owner names are left empty, so even without --numeric-owner GNU tar shows numbers.
  const plain = await runTool('tar', ['-tvf', '-'], { input: tarball, env: UTC });
  assert.equal(rows(plain.stdout), expectedListing(tree));
  assert.ok(plain.stdout.includes(LONG_NAME) && plain.stdout.includes(UNICODE));
});

test('GNU tar extracts the archive: contents, modes, owners, links and devices as in the tree', async () => {
  const root = process.getuid?.() === 0;
  const tree = sampleTree({ devices: root });
  const work = await mkdtemp(join(tmpdir(), 'mvos-tar-test-'));
  try {
    await runTool('tar', ['--numeric-owner', '-xpf', '-', '-C', work], {
      input: await writeTar(tree, { mtime: MTIME }),
    });
    await assertExtracted(work, tree, { mtime: MTIME, owners: root, hardlinks: 'linked', linkAndFolderTimes: true });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('writes are deterministic and readTar round-trips byte-identically', async () => {
  const tree = sampleTree();
  const once = await writeTar(tree, { mtime: MTIME });
  assert.ok(once.equals(await writeTar(tree.clone(), { mtime: MTIME })), 'two writes are identical');
  assert.not.ok(once.equals(await writeTar(tree, { mtime: MTIME + 1 })), 'the mtime is in the bytes');
  const back = await readTar(once, { origin: 'tar:test' });
  assert.ok(back.entries().every((e) => e.origin === 'tar:test'));
  assert.equal(
    back.entries().map((e) => e.path),
    tree.entries().map((e) => e.path),
  );
  assert.ok((await writeTar(back, { mtime: MTIME })).equals(once), 'writeTar(readTar(x)) is x');
  assert.ok(back.get(LONG_NAME)!.content!.equals(Buffer.from('long')));
  assert.is(back.get(UNICODE)!.type, 'file');
  assert.equal(
    { ...back.get('dev/vda') },
    { ...entry('dev/vda', 'block', { mode: 0o660, gid: 6, devmajor: 254, devminor: 0 }), origin: 'tar:test' },
  );
  assert.is(back.get('tmp')!.mode, 0o1777);
  assert.is(back.get('etc/shadow')!.mode, 0, 'a mode of 0 stays 0');
});

test('readTar reads archives written by GNU tar', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mvos-tar-test-'));
  try {
    await mkdir(join(work, 'src/etc'), { recursive: true });
    await writeFile(join(work, 'src/etc/hostname'), 'host\n', { mode: 0o640 });
    const { stdout } = await runTool('sh', [
      '-c',
      'tar --numeric-owner --owner=0 --group=0 -cf - -C "$1" . | base64 -w0',
      'sh',
      join(work, 'src'),
    ]);
    const tree = await readTar(Buffer.from(stdout, 'base64'), { origin: 'tar:gnu' });
    assert.equal(
      tree.entries().map((e) => e.path),
      ['etc', 'etc/hostname'],
    );
    assert.is(tree.get('etc/hostname')!.content!.toString(), 'host\n');
    assert.is(tree.get('etc/hostname')!.mode, 0o640);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('a package tree survives a tar round trip', async () => {
  const tree = await busyboxTree();
  const tarball = await writeTar(tree, { mtime: 0 });
  const listed = rows((await runTool('tar', ['--numeric-owner', '-tvf', '-'], { input: tarball, env: UTC })).stdout);
  assert.equal(
    listed,
    expectedListing(tree).map((line) => line.replace('2023-11-14 22:13', '1970-01-01 00:00')),
  );
  assert.ok((await writeTar(await readTar(tarball, { origin: 'x' }), { mtime: 0 })).equals(tarball));
});

test('bad input is refused with a FailureError', async () => {
  for (const mtime of [-1, 1.5, 2 ** 40]) {
    const refused = await writeTar(new FileTree(), { mtime }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.instance(refused, FailureError, `mtime ${mtime} is refused`);
  }
  try {
    await readTar(Buffer.alloc(1024, 0x41), { origin: 'garbage.tar' });
    assert.unreachable('garbage is refused');
  } catch (error) {
    assert.instance(error, FailureError);
    assert.match((error as Error).message, /garbage\.tar/);
  }
  assert.equal(
    (await readTar(await writeTar(new FileTree(), { mtime: 0 }), { origin: 'x' })).size,
    0,
    'an empty tree is an empty archive',
  );
});

test.run();
