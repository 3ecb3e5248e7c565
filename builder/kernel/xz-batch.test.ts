import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decompressXzBatch, xzDeclaredSize } from './xz-batch.ts';

const xz = (data: Buffer, ...flags: string[]) => execFileSync('xz', ['-c', ...flags], { input: data });

test('the declared size is read from the index; anything but one whole stream is not trusted', () => {
  const data = Buffer.concat([Buffer.alloc(100_000, 'kvm '), randomBytes(5000)]);
  assert.is(xzDeclaredSize(xz(data)), data.length);
  assert.is(xzDeclaredSize(xz(data, '--block-size=16KiB')), data.length, 'several blocks');
  assert.is(xzDeclaredSize(Buffer.concat([xz(data), xz(data)])), undefined, 'two streams');
  assert.is(xzDeclaredSize(Buffer.concat([xz(data), Buffer.alloc(4)])), undefined, 'stream padding');
  assert.is(xzDeclaredSize(xz(data).subarray(1)), undefined, 'no magic');
  assert.is(xzDeclaredSize(Buffer.alloc(64)), undefined);
  const damaged = Buffer.from(xz(data));
  damaged.writeUInt32LE(0xffff, damaged.length - 8);
  assert.is(xzDeclaredSize(damaged), undefined, 'an index size past the start');
});

test('a batch gives each file what xz -dc gives it alone, with one process', async () => {
  const inputs = [Buffer.from('a'), Buffer.alloc(70_000, 1), randomBytes(3000), Buffer.alloc(0)];
  const files = inputs.map((d) => xz(d));
  const out = await decompressXzBatch(files);
  assert.ok(out);
  assert.equal(
    out.map((b) => b.toString('hex')),
    inputs.map((b) => b.toString('hex')),
  );
  assert.is(await decompressXzBatch([...files, Buffer.concat([files[0]!, files[1]!])]), undefined);
});

test.run();
