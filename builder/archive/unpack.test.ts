import { mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { USR_IMAGE_PATH, writeSquashfs } from '../rootfs/squashfs.ts';
import { FileTree, rootFile } from '../rootfs/tree.ts';
import { entry } from '../rootfs/tree-entries.test-support.ts';
import { compress } from './compress.ts';
import { splitNewcArchives, writeCpioNewc } from './cpio.ts';
import { unpackInitramfs } from './unpack.ts';

async function initrd(text: string): Promise<Buffer> {
  const tree = new FileTree();
  tree.mkdirp('etc/mvos', { origin: 'test' });
  tree.add(entry('etc/mvos/host.json', 'file', { content: Buffer.from(text) }));
  tree.add(entry('bin/tool', 'file', { mode: 0o755, content: Buffer.from('#!/bin/sh\n') }));
  tree.add(entry('bin/alias', 'symlink', { linkname: 'tool' }));
  tree.add(entry('dev/console', 'char', { mode: 0o600, devmajor: 5, devminor: 1 }));
  return writeCpioNewc(tree, { mtime: 0 });
}

test('a zstd initramfs unpacks once per content, keeps modes and links, skips device nodes, and replaces the older unpack', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-unpack-'));
  try {
    const first = join(dir, 'a.initrd');
    await writeFile(first, await compress(await initrd('{"v":1}'), 'zstd'));
    const root = await unpackInitramfs(first, join(dir, 'cache'));
    assert.is(await readFile(join(root, 'etc/mvos/host.json'), 'utf8'), '{"v":1}');
    assert.is((await stat(join(root, 'bin/tool'))).mode & 0o777, 0o755);
    assert.is(await readlink(join(root, 'bin/alias')), 'tool');
    assert.is(
      await stat(join(root, 'dev/console')).catch(() => undefined),
      undefined,
      'no device nodes in a plain folder',
    );
    assert.is(await unpackInitramfs(first, join(dir, 'cache')), root, 'the same content is not unpacked again');
    const second = join(dir, 'b.initrd');
    await writeFile(second, await compress(await initrd('{"v":2}'), 'gzip'));
    const other = await unpackInitramfs(second, join(dir, 'cache'));
    assert.is(await readFile(join(other, 'etc/mvos/host.json'), 'utf8'), '{"v":2}');
    assert.is((await readdir(join(dir, 'cache'))).length, 1, 'the older unpack is gone');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an initramfs of segments (each compressed on its own) unpacks whole; the archives split at their trailers', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-unpack-'));
  try {
    const second = new FileTree();
    second.mkdirp('usr/lib/mvos', { origin: 'test' });
    second.add(entry('usr/lib/mvos/agent.mjs', 'file', { content: Buffer.alloc(5000, 0x61) }));
    const archives = [await initrd('{"v":3}'), await writeCpioNewc(second, { mtime: 0 })];
    assert.equal(splitNewcArchives(Buffer.concat(archives)), archives);
    assert.throws(() => splitNewcArchives(archives[1]!.subarray(0, 300)), /cut short/);
    const file = join(dir, 'segments.initrd');
    await writeFile(
      file,
      Buffer.concat([await compress(archives[0]!, 'zstd', 19), await compress(archives[1]!, 'zstd')]),
    );
    const root = await unpackInitramfs(file, join(dir, 'cache'));
    assert.is(await readFile(join(root, 'etc/mvos/host.json'), 'utf8'), '{"v":3}');
    assert.is((await readFile(join(root, 'usr/lib/mvos/agent.mjs'))).length, 5000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a /usr image in the initramfs joins the unpacked /usr, as init mounts it on the host, and is not left beside it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-unpack-'));
  try {
    const usr = new FileTree();
    usr.mkdirp('bin', { origin: 'test' });
    usr.add(entry('bin/qemu-img', 'file', { mode: 0o755, content: Buffer.from('qemu-img') }));
    const holder = new FileTree();
    holder.add(rootFile(USR_IMAGE_PATH, await writeSquashfs(usr, { sourceDateEpoch: 0 }), 'test', 0o400));
    const unpacked = new FileTree();
    unpacked.mkdirp('usr/bin', { origin: 'test' });
    unpacked.add(entry('usr/bin/node', 'file', { mode: 0o755, content: Buffer.from('node') }));
    const file = join(dir, 'with-image.initrd');
    const archives = [await writeCpioNewc(unpacked, { mtime: 0 }), await writeCpioNewc(holder, { mtime: 0 })];
    await writeFile(file, Buffer.concat(await Promise.all(archives.map((a) => compress(a, 'zstd')))));
    const root = await unpackInitramfs(file, join(dir, 'cache'));
    assert.is(await readFile(join(root, 'usr/bin/node'), 'utf8'), 'node');
    assert.is(await readFile(join(root, 'usr/bin/qemu-img'), 'utf8'), 'qemu-img');
    assert.is((await stat(join(root, 'usr/bin/qemu-img'))).mode & 0o777, 0o755);
    assert.is(await stat(join(root, USR_IMAGE_PATH)).catch(() => undefined), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
