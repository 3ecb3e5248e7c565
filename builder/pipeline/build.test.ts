// Integration: lock a small recipe against this machine's apt sources, build it into a private cache, tamper, go offline.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../cli/main.ts';

const repo = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'mvos-build-'));
const cacheDir = join(dir, 'cache');
const recipe = join(dir, 'tiny.yaml');
const lockPath = join(dir, 'tiny.lock.json');
process.env.MVOS_CACHE = cacheDir;
writeFileSync(recipe, 'kind: guest\nname: tiny\nversion: "1.0.0"\nfirmware:\n  type: seabios\npackages:\n  - busybox-static\n');

async function mvos(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...args, '--no-color'], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('mvos lock writes a lockfile with the closure and firmware pins; locking again changes nothing', async () => {
  const first = await mvos('lock', recipe);
  assert.is(first.code, 0, first.err);
  const text = readFileSync(lockPath, 'utf8');
  const lock = JSON.parse(text);
  assert.ok(lock.packages['busybox-static'], 'the requested package is pinned');
  assert.ok(lock.packages.seabios, 'the firmware package is pinned');
  assert.match(lock.packages['busybox-static'].sha256, /^[0-9a-f]{64}$/);
  assert.equal(lock.images.tiny.requested, ['busybox-static']);
  const second = await mvos('lock', recipe);
  assert.is(second.code, 0);
  assert.match(second.out, /up to date/);
  assert.is(readFileSync(lockPath, 'utf8'), text, 'byte-identical after a second lock');
  assert.is((await mvos('lock', recipe, '--check')).code, 0);
});

test('a pin the sources no longer offer is refused, never moved silently; --update moves it', async () => {
  const original = readFileSync(lockPath, 'utf8');
  const lock = JSON.parse(original);
  lock.packages['busybox-static'].version = '1:0.0-gone';
  writeFileSync(lockPath, JSON.stringify(lock, null, 2));
  const refused = await mvos('lock', recipe);
  assert.is(refused.code, 2);
  assert.match(refused.err, /would move without being asked: busybox-static 1:0\.0-gone →/);
  assert.match(refused.err, /--update busybox-static/);
  const moved = await mvos('lock', recipe, '--update', 'busybox-static');
  assert.is(moved.code, 0, moved.err);
  assert.match(moved.out, /~ busybox-static 1:0\.0-gone →/);
  assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).packages, JSON.parse(original).packages);
});

test('a recipe that changed after locking is refused by build and by lock --check', async () => {
  writeFileSync(recipe, readFileSync(recipe, 'utf8') + '  - zstd\n');
  const check = await mvos('lock', recipe, '--check');
  assert.is(check.code, 2);
  const build = await mvos('build', recipe);
  assert.is(build.code, 2);
  assert.match(build.err, /out of date: tiny asks for zstd/);
  writeFileSync(recipe, readFileSync(recipe, 'utf8').replace('  - zstd\n', ''));
});

test('build fetches every pin into the cache; a warm rebuild fetches nothing', async () => {
  const cold = await mvos('build', recipe, '--json');
  assert.is(cold.code, 0, cold.err);
  const warm = JSON.parse((await mvos('build', recipe, '--json', '--offline')).out);
  assert.is(warm.fetched.fetched, 0);
  assert.is(warm.fetched.cached, 2);
});

test('with a warm cache the build succeeds where no network can be reached', () => {
  const probe = spawnSync('unshare', ['--net', 'true']);
  assert.is(probe.status, 0, `unshare --net must work here (root or user namespaces): ${probe.stderr}`);
  const run = spawnSync('unshare', ['--net', join(repo, 'mvos'), 'build', recipe], { env: { ...process.env, NO_COLOR: '1' }, encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /0 fetched, all verified/);
});

test('a cache entry altered by one byte fails the build, naming the package and both hashes', async () => {
  const pin = JSON.parse(readFileSync(lockPath, 'utf8')).packages['busybox-static'];
  const blob = join(cacheDir, 'blobs', 'sha256', pin.sha256.slice(0, 2), pin.sha256);
  const bytes = readFileSync(blob);
  bytes[1000] = bytes[1000]! ^ 0xff;
  writeFileSync(blob, bytes);
  const result = await mvos('build', recipe);
  assert.is(result.code, 1);
  assert.match(result.err, /busybox-static/);
  assert.ok(result.err.includes(`expected sha256 ${pin.sha256}`), result.err);
  assert.match(result.err, /got [0-9a-f]{64}/);
  const verify = await mvos('cache', 'verify');
  assert.is(verify.code, 1);
});

test.run();
