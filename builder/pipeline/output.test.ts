import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { recoverImageDirs, writeImageDir } from './output.ts';

test('writes a folder, then replaces it whole', async () => {
  const images = mkdtempSync(join(tmpdir(), 'mvos-out-'));
  await writeImageDir(images, 'host', { a: Buffer.from('1'), b: Buffer.from('2') });
  await writeImageDir(images, 'host', { a: Buffer.from('3') });
  assert.equal(readdirSync(join(images, 'host')), ['a']);
  assert.is(readFileSync(join(images, 'host', 'a'), 'utf8'), '3');
  assert.equal(readdirSync(images), ['host']);
});

test('big files are written in 4 MiB blocks, each one told, and come out whole', async () => {
  const images = mkdtempSync(join(tmpdir(), 'mvos-out-'));
  const big = Buffer.alloc((9 << 20) + 5);
  for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
  const blocks: number[] = [];
  await writeImageDir(images, 'host', { 'host.iso': big, empty: Buffer.alloc(0) }, (bytes) => blocks.push(bytes));
  assert.equal(blocks, [4 << 20, 4 << 20, (1 << 20) + 5]);
  assert.ok(readFileSync(join(images, 'host', 'host.iso')).equals(big));
  assert.is(readFileSync(join(images, 'host', 'empty')).length, 0);
});

test("a disk image's runs of zeros are left as holes: the same bytes, fewer blocks on disk", async () => {
  const images = mkdtempSync(join(tmpdir(), 'mvos-out-'));
  // A header, 8 MiB of free space, a partition's bytes, and free space to the end (which ends on a hole).
  const disk = Buffer.alloc(16 << 20);
  disk.fill(0x5a, 0, 4096);
  disk.fill(0xa5, 9 << 20, (9 << 20) + 100_000);
  disk[(9 << 20) + (1 << 20) + 1] = 1;
  await writeImageDir(images, 'host', { 'host.raw': disk });
  const file = join(images, 'host', 'host.raw');
  assert.ok(readFileSync(file).equals(disk), 'the bytes read back are the image');
  const { size, blocks } = statSync(file);
  assert.is(size, disk.length);
  assert.ok(blocks * 512 <= 1 << 20, `${blocks * 512} bytes allocated for about 300 KiB of data`);
});

test('what a killed build left is cleaned: a half-written folder goes, a swapped-out previous output comes back', async () => {
  const images = mkdtempSync(join(tmpdir(), 'mvos-out-'));
  mkdirSync(join(images, '.tmp-host-123'));
  writeFileSync(join(images, '.tmp-host-123', 'initrd'), 'half');
  mkdirSync(join(images, '.old-host-123'));
  writeFileSync(join(images, '.old-host-123', 'initrd'), 'good');
  await recoverImageDirs(images);
  assert.equal(readdirSync(images), ['host']);
  assert.is(readFileSync(join(images, 'host', 'initrd'), 'utf8'), 'good');
  assert.not.ok(existsSync(join(images, '.tmp-host-123')));
});

test.run();
