import { createHash } from 'node:crypto';
import { existsSync, utimesSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError, must } from '../../common/errors.ts';
import { spawnTool } from '../../common/exec.ts';
import { ContentCache } from './cache.ts';

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

async function withCache(fn: (cache: ContentCache, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'mvos-cache-test-'));
  try {
    await fn(new ContentCache(root), root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function rejects(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

test('putBuffer then read round-trips, and has/path find the blob by its hash', async () => {
  await withCache(async (cache, root) => {
    const content = Buffer.from('hello, pinned world\n');
    const { sha256, size } = await cache.putBuffer(content, { label: 'greeting' });
    assert.is(sha256, sha(content));
    assert.is(size, content.length);
    assert.ok(cache.has(sha256));
    assert.is(cache.path(sha256), join(root, 'blobs', 'sha256', sha256.slice(0, 2), sha256));
    assert.equal(await readFile(cache.path(sha256)), content);
    assert.equal(await cache.read(sha256, 'greeting'), content);
    assert.not.ok(cache.has(sha('something else')));
    assert.equal(await listFiles(join(root, 'tmp')), [], 'no temp file is left behind');
  });
});

test('putStream hashes while writing, and openRead streams the verified content', async () => {
  await withCache(async (cache) => {
    const parts = Array.from({ length: 50 }, (_, i) => Buffer.alloc(10_000, i));
    const whole = Buffer.concat(parts);
    const { sha256, size } = await cache.putStream(Readable.from(parts), { expectedSha256: sha(whole), label: 'big' });
    assert.is(sha256, sha(whole));
    assert.is(size, whole.length);
    assert.equal(await drain(cache.openRead(sha256, 'big')), whole);
  });
});

test('a blob that does not match its expected hash is refused by name and leaves nothing behind', async () => {
  await withCache(async (cache, root) => {
    const wrong = sha('what the lock pinned');
    const error = await rejects(
      cache.putBuffer(Buffer.from('what the mirror served'), { expectedSha256: wrong, label: 'busybox-static' }),
    );
    assert.instance(error, FailureError);
    assert.match(error.message, 'busybox-static');
    assert.match(error.message, wrong);
    assert.match(error.message, sha('what the mirror served'));
    assert.not.ok(cache.has(sha('what the mirror served')));
    assert.equal(await listFiles(join(root, 'blobs')), []);
    assert.equal(await listFiles(join(root, 'tmp')), []);
  });
});

test('a blob altered by one byte on disk is refused on read with both hashes, and verify() reports it', async () => {
  await withCache(async (cache) => {
    const good = await cache.putBuffer(Buffer.from('#!/bin/sh\necho genuine\n'));
    const other = await cache.putBuffer(Buffer.from('untouched'));
    const tampered = Buffer.from('#!/bin/sh\necho genuine\n');
    tampered[tampered.length - 2] = tampered.readUInt8(tampered.length - 2) ^ 1;
    await writeFile(cache.path(good.sha256), tampered);

    const error = await rejects(cache.read(good.sha256, 'busybox-static'));
    assert.instance(error, FailureError);
    assert.match(
      error.message,
      `cache entry for busybox-static is corrupt: expected sha256 ${good.sha256}, got ${sha(tampered)}`,
    );
    assert.match((error as FailureError).hint ?? '', 'mvos cache verify');

    const streamed = await rejects(drain(cache.openRead(good.sha256, 'busybox-static')));
    assert.instance(streamed, FailureError);
    assert.match(streamed.message, good.sha256);
    assert.match(streamed.message, sha(tampered));

    assert.equal(await cache.read(other.sha256, 'other'), Buffer.from('untouched'));
    assert.equal(await cache.verify(), { checked: 2, corrupt: [good.sha256] });
  });
});

test('reading a missing blob fails by name', async () => {
  await withCache(async (cache) => {
    const missing = sha('never stored');
    const error = await rejects(cache.read(missing, 'linux-image'));
    assert.instance(error, FailureError);
    assert.match(error.message, 'linux-image');
    assert.throws(() => cache.openRead(missing, 'linux-image'), /linux-image/);
  });
});

test('gc removes blobs not kept and reports what it freed', async () => {
  await withCache(async (cache) => {
    const kept = await cache.putBuffer(Buffer.from('keep me'));
    const dropped = await cache.putBuffer(Buffer.from('drop me!'));
    assert.equal(await cache.gc(new Set([kept.sha256])), { removed: 1, freedBytes: dropped.size, recentBytes: 0 });
    assert.ok(cache.has(kept.sha256));
    assert.not.ok(cache.has(dropped.sha256));
    assert.equal(await cache.verify(), { checked: 1, corrupt: [] });
  });
});

test('gc with room for recent outputs keeps the most recently used ones that fit, and drops everything older', async () => {
  await withCache(async (cache) => {
    const pinned = await cache.putBuffer(Buffer.alloc(1000, 1));
    const old = await cache.putBuffer(Buffer.alloc(100, 2));
    const used = await cache.putBuffer(Buffer.alloc(100, 3));
    const fresh = await cache.putBuffer(Buffer.alloc(100, 4));
    const day = 86_400_000;
    for (const [blob, age] of [
      [pinned, 9],
      [old, 5],
      [used, 4],
      [fresh, 3],
    ] as const)
      utimesSync(cache.path(blob.sha256), new Date(Date.now() - age * day), new Date(Date.now() - age * day));
    await cache.read(used.sha256, 'a stage output'); // read now: the most recent
    assert.equal(await cache.gc(new Set([pinned.sha256]), 150), { removed: 2, freedBytes: 200, recentBytes: 100 });
    assert.equal(
      [pinned, old, used, fresh].map((b) => cache.has(b.sha256)),
      [true, false, true, false],
    );
  });
});

test('a write killed mid-stream leaves no blob, and gc clears its temp file', async () => {
  await withCache(async (cache, root) => {
    const cacheModule = fileURLToPath(new URL('./cache.ts', import.meta.url));
    const script = `
      const { ContentCache } = await import(${JSON.stringify(cacheModule)});
      async function* slow() {
        yield Buffer.alloc(65536, 7);
        process.stdout.write('WRITING\\n');
        await new Promise(() => setInterval(() => {}, 1000));
      }
      await new ContentCache(${JSON.stringify(root)}).putStream(slow());
    `;
    const child = spawnTool(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdin: 'ignore',
    });
    const outcome = child.then(
      () => 'exited',
      () => 'killed',
    );
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('WRITING')) resolve();
      });
      child.stdout?.on('end', () => reject(new Error(`child ended before writing: ${seen}`)));
    });
    child.kill('SIGKILL');
    assert.is(await outcome, 'killed');

    const temps = await listFiles(join(root, 'tmp'));
    assert.is(temps.length, 1, 'the crashed write left its temp file');
    assert.is((await stat(must(temps[0], 'the temp file'))).size, 65536);
    assert.not.ok(cache.has(sha(Buffer.alloc(65536, 7))));
    assert.equal(await listFiles(join(root, 'blobs')), []);
    assert.equal(await cache.verify(), { checked: 0, corrupt: [] });

    const kept = await cache.putBuffer(Buffer.from('still here'));
    assert.equal(await cache.gc(new Set([kept.sha256])), { removed: 1, freedBytes: 65536, recentBytes: 0 });
    assert.equal(await listFiles(join(root, 'tmp')), []);
    assert.ok(cache.has(kept.sha256));
  });
});

test('gc leaves a temp file of a live writer alone', async () => {
  await withCache(async (cache, root) => {
    await cache.putBuffer(Buffer.from('x'));
    const live = join(root, 'tmp', `${process.pid}-inflight`);
    await writeFile(live, 'partial');
    assert.equal(await cache.gc(new Set()), { removed: 1, freedBytes: 1, recentBytes: 0 });
    assert.ok(existsSync(live));
  });
});

test('keys map to blobs, are replaced atomically, and vanish with their blob', async () => {
  await withCache(async (cache, root) => {
    assert.is(await cache.getKey('stage:rootfs:abc'), undefined);
    const first = await cache.putBuffer(Buffer.from('rootfs v1'));
    const second = await cache.putBuffer(Buffer.from('rootfs v2'));
    await cache.setKey('stage:rootfs:abc', first.sha256);
    assert.is(await cache.getKey('stage:rootfs:abc'), first.sha256);
    await cache.setKey('stage:rootfs:abc', second.sha256);
    assert.is(await cache.getKey('stage:rootfs:abc'), second.sha256);
    assert.is(await cache.getKey('stage:rootfs:other'), undefined);
    assert.equal(await readdir(join(root, 'keys')), [sha('stage:rootfs:abc')]);

    await cache.gc(new Set([first.sha256]));
    assert.is(await cache.getKey('stage:rootfs:abc'), undefined);
    assert.equal(await readdir(join(root, 'keys')), []);
    assert.equal(await listFiles(join(root, 'tmp')), []);
  });
});

test('fromEnvironment prefers MVOS_CACHE, then XDG_CACHE_HOME, then ~/.cache', () => {
  assert.is(ContentCache.fromEnvironment({ MVOS_CACHE: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' }).root, '/c');
  assert.is(ContentCache.fromEnvironment({ XDG_CACHE_HOME: '/x', HOME: '/h' }).root, '/x/mvos');
  assert.is(ContentCache.fromEnvironment({ HOME: '/h' }).root, '/h/.cache/mvos');
});

test('a malformed hash is refused', async () => {
  await withCache(async (cache) => {
    assert.throws(() => cache.path('../../etc/passwd'), /not a sha256/);
    const error = await rejects(cache.putBuffer(Buffer.from('x'), { expectedSha256: 'ABC' }));
    assert.match(error.message, 'not a sha256');
  });
});

test.run();
