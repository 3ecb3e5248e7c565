// Integration: lock a small guest recipe against this machine's apt sources, build it for real (kernel, busybox, init),
// check determinism and no-op rebuilds, refuse a tampered cache entry, and build with no network.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decompress } from '../archive/compress.ts';
import { splitNewcArchives } from '../archive/cpio.ts';
import { main } from '../cli/main.ts';
import { ContentCache } from '../inputs/cache.ts';

const repo = process.cwd();
const sharedCache = ContentCache.fromEnvironment();
const dir = mkdtempSync(join(tmpdir(), 'mvos-build-'));
const recipe = join(dir, 'tiny.yaml');
const lockPath = join(dir, 'tiny.lock.json');
const images = join(dir, 'images');
// Folders tests make besides `dir`, removed after them.
const temps: string[] = [];
writeFileSync(
  recipe,
  [
    'kind: guest',
    'name: tiny',
    'version: "1.0.0"',
    'kernel:',
    '  package: linux-image-cloud-amd64',
    '  cmdline: [console=ttyS0, panic=-1]',
    'firmware:',
    '  type: seabios',
    'packages:',
    '  - busybox-static',
    'overlays:',
    `  - ${join(repo, 'rootfs/guest/overlay')}`,
    '',
  ].join('\n'),
);

async function mvos(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main([...args, '--no-color'], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    process.env = saved;
  }
}
const shared = { MVOS_CACHE: sharedCache.root };

// A fresh cache holding only the locked packages (copied from the shared one): stages start cold.
function seededCache(root: string): ContentCache {
  const cache = new ContentCache(root);
  const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
  for (const pin of Object.values(lock.packages) as Array<{ sha256: string }>) {
    mkdirSync(dirname(cache.path(pin.sha256)), { recursive: true });
    copyFileSync(sharedCache.path(pin.sha256), cache.path(pin.sha256));
  }
  return cache;
}

test('mvos lock writes a lockfile with the closure, kernel and firmware pins; locking again changes nothing', async () => {
  const first = await mvos(shared, 'lock', recipe);
  assert.is(first.code, 0, first.err);
  const text = readFileSync(lockPath, 'utf8');
  const lock = JSON.parse(text);
  assert.ok(lock.packages['busybox-static'], 'the requested package is pinned');
  assert.ok(lock.packages.seabios, 'the firmware package is pinned');
  // Debian 12 names its kernels 6.1.0-N-cloud-amd64, Debian 13 6.12.N+deb13-cloud-amd64.
  assert.match(lock.images.tiny.kernel.package, /^linux-image-6\.\d+\.\d+(-\d+|\+deb\d+)-cloud-amd64$/);
  assert.is(lock.debian.suite, 'trixie', 'the default suite');
  assert.match(lock.packages['busybox-static'].sha256, /^[0-9a-f]{64}$/);
  assert.equal(lock.images.tiny.requested, ['busybox-static']);
  const second = await mvos(shared, 'lock', recipe);
  assert.is(second.code, 0);
  assert.match(second.out, /up to date/);
  assert.is(readFileSync(lockPath, 'utf8'), text, 'byte-identical after a second lock');
  assert.is((await mvos(shared, 'lock', recipe, '--check')).code, 0);
});

test('a pin the sources no longer offer is refused, never moved silently; --update moves it', async () => {
  const original = readFileSync(lockPath, 'utf8');
  const lock = JSON.parse(original);
  lock.packages['busybox-static'].version = '1:0.0-gone';
  writeFileSync(lockPath, JSON.stringify(lock, null, 2));
  const refused = await mvos(shared, 'lock', recipe);
  assert.is(refused.code, 2);
  assert.match(refused.err, /would move without being asked: busybox-static 1:0\.0-gone →/);
  assert.match(refused.err, /--update busybox-static/);
  const moved = await mvos(shared, 'lock', recipe, '--update', 'busybox-static');
  assert.is(moved.code, 0, moved.err);
  assert.match(moved.out, /~ busybox-static 1:0\.0-gone →/);
  assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).packages, JSON.parse(original).packages);
});

test('a recipe that changed after locking is refused by build and by lock --check', async () => {
  writeFileSync(recipe, readFileSync(recipe, 'utf8').replace('  - busybox-static\n', '  - busybox-static\n  - zstd\n'));
  assert.is((await mvos(shared, 'lock', recipe, '--check')).code, 2);
  const build = await mvos(shared, 'build', recipe, '--output', images);
  assert.is(build.code, 2);
  assert.match(build.err, /out of date: tiny asks for zstd/);
  assert.not.ok(existsSync(join(images, 'tiny')), 'nothing written');
  writeFileSync(recipe, readFileSync(recipe, 'utf8').replace('  - zstd\n', ''));
});

test('build writes vmlinuz, initrd, manifest and SBOM; a second build does nothing', async () => {
  const cold = await mvos(shared, 'build', recipe, '--output', images, '--json');
  assert.is(cold.code, 0, cold.err);
  for (const file of ['vmlinuz', 'initrd', 'manifest.json', 'sbom.spdx.json'])
    assert.ok(existsSync(join(images, 'tiny', file)), file);
  const manifest = JSON.parse(readFileSync(join(images, 'tiny', 'manifest.json'), 'utf8'));
  assert.is(manifest.image.recipe, 'tiny.yaml');
  assert.ok(
    manifest.image.inputs.some(
      (i: { name: string; role: string }) => i.name === 'busybox-static' && i.role === 'rootfs',
    ),
  );
  assert.equal(
    manifest.outputs.map((o: { file: string }) => o.file),
    ['initrd', 'sbom.spdx.json', 'vmlinuz'],
  );
  const sbom = JSON.parse(readFileSync(join(images, 'tiny', 'sbom.spdx.json'), 'utf8'));
  assert.is(sbom.spdxVersion, 'SPDX-2.3');
  assert.ok(sbom.packages.some((p: { name: string }) => p.name === 'busybox-static'));
  // Every segment listed by GNU cpio (which stops at the first trailer, so each on its own).
  const segments = splitNewcArchives(await decompress(readFileSync(join(images, 'tiny', 'initrd')), 'zstd'));
  assert.ok(segments.length >= 2, `packages and image segments (${segments.length})`);
  const listed = segments.flatMap((input) =>
    spawnSync('cpio', ['-it'], { input, encoding: 'utf8' }).stdout.split('\n'),
  );
  assert.ok(listed.includes('init'), 'the initramfs has /init');
  // Debian 13 ships busybox below /usr only; /bin is the merged-/usr link to it.
  assert.ok(listed.includes('usr/bin/busybox'), 'and busybox');
  assert.ok(listed.includes('bin'), 'with the /bin link');
  const warm = JSON.parse((await mvos(shared, 'build', recipe, '--output', images, '--json', '--offline')).out);
  assert.is(warm.upToDate, true);
  assert.is(warm.stages.filter((s: { ran: boolean }) => s.ran).length, 0);
  const initrd = join(images, 'tiny', 'initrd');
  const good = readFileSync(initrd);
  const bad = Buffer.from(good);
  bad[100] = bad[100]! ^ 0xff;
  writeFileSync(initrd, bad);
  const repaired = JSON.parse((await mvos(shared, 'build', recipe, '--output', images, '--json', '--offline')).out);
  assert.is(repaired.upToDate, false, 'an output changed in place (same size) is noticed');
  assert.ok(readFileSync(initrd).equals(good), 'and written again');
});

test('the same recipe built from another folder with an empty stage cache gives the same bytes', async () => {
  const other = mkdtempSync(join(tmpdir(), 'mvos-build-b-'));
  try {
    cpSync(recipe, join(other, 'tiny.yaml'));
    cpSync(lockPath, join(other, 'tiny.lock.json'));
    const cache = seededCache(join(other, 'cache')).root;
    const build = await mvos(
      { MVOS_CACHE: cache },
      'build',
      join(other, 'tiny.yaml'),
      '--output',
      join(other, 'images'),
      '--offline',
    );
    assert.is(build.code, 0, build.err);
    for (const file of ['vmlinuz', 'initrd', 'manifest.json', 'sbom.spdx.json']) {
      assert.ok(
        readFileSync(join(images, 'tiny', file)).equals(readFileSync(join(other, 'images', 'tiny', file))),
        `${file} differs`,
      );
    }
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test('with a warm cache the build succeeds where no network can be reached', () => {
  const probe = spawnSync('unshare', ['--net', 'true']);
  assert.is(probe.status, 0, `unshare --net must work here (root or user namespaces): ${probe.stderr}`);
  const run = spawnSync('unshare', ['--net', join(repo, 'mvos'), 'build', recipe, '--output', images], {
    env: { ...process.env, ...shared, NO_COLOR: '1' },
    encoding: 'utf8',
  });
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /up to date/);
});

test('a cache entry altered by one byte fails the build, naming the package and both hashes, and writes nothing', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'mvos-tamper-'));
  temps.push(cache);
  const pin = JSON.parse(readFileSync(lockPath, 'utf8')).packages['busybox-static'];
  const blob = seededCache(cache).path(pin.sha256);
  const bytes = readFileSync(blob);
  bytes[1000] = bytes[1000]! ^ 0xff;
  writeFileSync(blob, bytes);
  const out = join(cache, 'images');
  const result = await mvos({ MVOS_CACHE: cache }, 'build', recipe, '--output', out, '--offline');
  assert.is(result.code, 1);
  assert.match(result.err, /busybox-static/);
  assert.ok(result.err.includes(`expected sha256 ${pin.sha256}`), result.err);
  assert.match(result.err, /got [0-9a-f]{64}/);
  assert.not.ok(existsSync(out), 'no output folder');
  assert.is((await mvos({ MVOS_CACHE: cache }, 'cache', 'verify')).code, 1);
});

test.after(() => {
  for (const path of [dir, ...temps]) rmSync(path, { recursive: true, force: true });
});

test.run();
