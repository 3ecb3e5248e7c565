import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError, must, UserError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { type Compression, compress, decompress } from './compress.ts';

// Compressible but not trivial, with every byte value, so any UTF-8 decoding on the way would corrupt it.
function sample(size: number): Buffer {
  const out = Buffer.alloc(size);
  let seed = createHash('sha256').update('mvos').digest();
  for (let at = 0; at < size; at += seed.length) {
    seed = createHash('sha256').update(seed).digest();
    seed.copy(out, at, 0, Math.min(seed.length, size - at));
    if ((at / 32) % 4 !== 0) out.fill(at & 0xff, at, Math.min(at + 32, size));
  }
  return out;
}

// The window a zstd frame asks its decompressor to hold (RFC 8878 §3.1.1.1): the kernel's initramfs unpacker allocates
// it at boot.
function zstdWindow(frame: Buffer): number {
  assert.is(frame.readUInt32LE(0), 0xfd2fb528, 'zstd magic');
  const descriptor = frame.readUInt8(4);
  const singleSegment = (descriptor >> 5) & 1;
  if (singleSegment) {
    const sizeBytes = must([1, 2, 4, 8][descriptor >> 6], 'the content size field width');
    const dictBytes = must([0, 1, 2, 4][descriptor & 3], 'the dictionary id width');
    const at = 5 + dictBytes;
    const size =
      sizeBytes === 1
        ? frame.readUInt8(at)
        : sizeBytes === 2
          ? frame.readUInt16LE(at) + 256
          : sizeBytes === 4
            ? frame.readUInt32LE(at)
            : Number(frame.readBigUInt64LE(at));
    return size;
  }
  const window = frame.readUInt8(5);
  const base = 2 ** (10 + (window >> 3));
  return base + (base / 8) * (window & 7);
}

const data = sample(1024 * 1024 + 17);

test('every method round-trips binary data', async () => {
  for (const method of ['zstd', 'gzip', 'none'] as Compression[]) {
    const packed = await compress(data, method);
    if (method !== 'none') assert.ok(packed.length < data.length / 2, `${method} compresses`);
    assert.ok((await decompress(packed, method)).equals(data), `${method} round trip`);
  }
  assert.ok((await decompress(await compress(Buffer.alloc(0), 'zstd'), 'zstd')).equals(Buffer.alloc(0)), 'empty input');
  assert.ok((await decompress(await compress(Buffer.alloc(0), 'gzip'), 'gzip')).equals(Buffer.alloc(0)));
});

test('the same input gives the same bytes', async () => {
  for (const method of ['zstd', 'gzip'] as Compression[]) {
    const [a, b] = await Promise.all([compress(data, method), compress(Buffer.from(data), method)]);
    assert.ok(a.equals(b), `${method} is deterministic`);
  }
  assert.not.ok((await compress(data, 'zstd', 3)).equals(await compress(data, 'zstd')), 'the level is used');
});

test('gzip: fixed header (no mtime, no name, OS Unix), accepted by gzip -t', async () => {
  const packed = await compress(data, 'gzip');
  assert.equal(
    [...packed.subarray(0, 10)],
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3],
    'magic, deflate, no flags, mtime 0, XFL max, OS Unix',
  );
  assert.is((await compress(data, 'gzip', 1))[8], 4, 'XFL says fastest at level 1');
  await runTool('gzip', ['-t'], { input: packed });
  const { stdout } = await runTool('sh', ['-c', 'gzip -dc | sha256sum'], { input: packed });
  assert.is(stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'));
});

test('zstd: accepted by zstd -t, the same bytes as the zstd tool, a window the kernel can hold', async () => {
  const packed = await compress(data, 'zstd');
  await runTool('zstd', ['-t', '-q'], { input: packed });
  for (const threads of [1, 2]) {
    const { stdout } = await runTool('sh', ['-c', `zstd -q -c -T${threads} -12 | sha256sum`], { input: data });
    assert.is(
      stdout.split(' ')[0],
      createHash('sha256').update(packed).digest('hex'),
      `default is level 12; the same bytes with ${threads} worker(s)`,
    );
  }
  assert.ok(zstdWindow(packed) <= 8 * 1024 * 1024, `window ${zstdWindow(packed)} is at most 8 MiB (no --long)`);
  const ultra = await compress(data, 'zstd', 20);
  await runTool('zstd', ['-t', '-q'], { input: ultra });
  // The kernel's unzstd refuses frames with windows over 128 MiB (ZSTD_WINDOWSIZE_MAX, lib/decompress_unzstd.c).
  assert.ok(zstdWindow(ultra) <= 128 * 1024 * 1024, 'levels over 19 stay within the kernel limit');
});

test('out-of-range levels are a user error; broken input a failure', async () => {
  for (const [method, level] of [
    ['zstd', 0],
    ['zstd', 23],
    ['gzip', 10],
    ['gzip', 2.5],
  ] as const) {
    const refused = await compress(data, method, level).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.instance(refused, UserError, `${method} level ${level}`);
  }
  for (const method of ['zstd', 'gzip'] as Compression[]) {
    const refused = await decompress(Buffer.from('not compressed at all'), method).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.instance(refused, FailureError, `${method} refuses garbage`);
  }
  assert.ok((await compress(data, 'none', 99)) === data, "'none' ignores the level and copies nothing");
});

test.run();
