import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../common/exec.ts';
import { refused } from '../../common/refused.test-support.ts';
import { withTempDir } from '../../common/temp-dir.ts';
import { unpackOciImage } from './oci.ts';
import { resolveUser } from './oci-config.ts';
import { imageConfig, layerTar, type Member, writeLayout } from './oci-images.test-support.ts';
import { applyLayer } from './oci-layers.ts';

const BASE: Member[] = [
  { name: 'bin', type: 'directory' },
  { name: 'bin/true', content: 'not really', mode: 0o755 },
  { name: 'etc', type: 'directory' },
  { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
];
const SETTINGS = { Entrypoint: ['/bin/true'] };

// Rejects when work takes longer than ms: a read that follows a symlink onto /dev/zero never ends by itself.
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

// Sum of file sizes under dir, and the highest sum seen while work runs (polled; a lower bound of the true peak).
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const info = await lstat(path).catch(() => undefined);
    if (info?.isDirectory()) total += await treeBytes(path);
    else if (info) total += info.size;
  }
  return total;
}

async function peakBytes(dir: string, work: Promise<unknown>): Promise<number> {
  let peak = 0;
  let running = true;
  const settled = work.then(
    () => undefined,
    () => undefined,
  );
  const poll = (async () => {
    while (running) {
      peak = Math.max(peak, await treeBytes(dir));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await settled;
  running = false;
  await poll;
  return peak;
}

// A `docker save` archive of one layer with the given members after (or instead of) its manifest.json.
function savedMembers(layer: Buffer, manifest: boolean): { members: Member[]; configName: string } {
  const config = imageConfig([layer], SETTINGS);
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  const members: Member[] = [
    { name: configName, content: config },
    { name: 'layer0', type: 'directory' },
    { name: 'layer0/layer.tar', content: layer },
  ];
  if (manifest)
    members.push({
      name: 'manifest.json',
      content: JSON.stringify([{ Config: configName, Layers: ['layer0/layer.tar'] }]),
    });
  return { members, configName };
}

test('docker save archive: a symlink chain (s -> ., s/s/…/up -> ../..) writes nothing outside the scratch folder', () =>
  withTempDir('mvos-oci-hostile-', (dir) =>
    withTempDir('mvos-oci-victim-', async (victim) => {
      const hops = 12;
      const { members } = savedMembers(await layerTar(BASE), true);
      members.push(
        { name: 's', type: 'symlink', linkname: '.' },
        // The text check sees s/…/s/up -> ../.. land on the archive root; the link is made at the root, `hops` levels
        // above it.
        { name: `${'s/'.repeat(hops)}up`, type: 'symlink', linkname: Array(hops).fill('..').join('/') },
        { name: `up/${relative('/', victim)}/pwned`, content: 'written outside' },
      );
      await writeFile(join(dir, 'evil.tar'), await layerTar(members));
      const outcome = unpackOciImage(join(dir, 'evil.tar'), join(dir, 'out'));
      await outcome.catch(() => undefined);
      assert.equal(await readdir(victim), [], 'nothing appeared in the sibling temp dir the chain aimed at');
      assert.not.ok(existsSync('/pwned'));
      assert.match(await refused(outcome), /symlink/);
      assert.equal(await readdir(join(dir, 'out')), [], 'the scratch folder is gone');
    }),
  ));

test('docker save archive: a manifest.json symlinked out of the archive (through sub/p -> ..) reveals nothing of the host file', () =>
  withTempDir('mvos-oci-hostile-', async (dir) => {
    const secret = join(dir, 'host-secret');
    await writeFile(secret, 'TOPSECRET host bytes that must not be quoted');
    const { members } = savedMembers(await layerTar(BASE), false);
    // sub/p -> .. is the root, so sub/p/sub/p/… stays at the root while each `..` climbs: 8 of them reach / from any
    // temp dir.
    const climb = `${'sub/p/'.repeat(4)}${Array(8).fill('..').join('/')}`;
    members.push(
      { name: 'sub', type: 'directory' },
      { name: 'sub/p', type: 'symlink', linkname: '..' },
      { name: 'manifest.json', type: 'symlink', linkname: `${climb}${secret}` },
    );
    await writeFile(join(dir, 'evil.tar'), await layerTar(members));
    const message = await refused(unpackOciImage(join(dir, 'evil.tar'), join(dir, 'out')));
    assert.not.match(message, /TOPSECRET/, 'the refusal quotes nothing of the host file');
    assert.match(message, /manifest\.json/);
    assert.equal(await readdir(join(dir, 'out')), [], 'the scratch folder is gone');
  }));

test("the image's /etc/passwd is read inside the image: a symlink reaches neither a host file nor /dev/zero", () =>
  withTempDir('mvos-oci-hostile-', async (dir) => {
    const host = join(dir, 'host-passwd');
    await writeFile(host, 'hostonly:x:4242:4242::/:/bin/sh\n');
    const tree = async (name: string, passwd: string) => {
      const root = join(dir, name);
      await mkdir(root);
      await applyLayer(
        root,
        Readable.from(
          await layerTar([
            { name: 'etc', type: 'directory' },
            { name: 'etc/passwd', type: 'symlink', linkname: passwd },
          ]),
        ),
        { owners: 'keep', dirModes: new Map() },
      );
      return root;
    };
    const absolute = await tree('abs', host);
    assert.match(
      await refused(within(5000, resolveUser(absolute, 'hostonly'))),
      /not in its \/etc\/passwd/,
      "an absolute target means the image's own path",
    );
    const climbing = await tree('rel', `../${Array(12).fill('..').join('/')}${host}`);
    assert.match(await refused(within(5000, resolveUser(climbing, 'hostonly'))), /symlink escape/);
    const zero = await tree('zero', '/dev/zero');
    assert.match(await refused(within(5000, resolveUser(zero, 'someone'))), /not in its \/etc\/passwd/);
    const fifo = join(dir, 'fifo');
    await mkdir(join(fifo, 'etc'), { recursive: true });
    await runTool('mkfifo', [join(fifo, 'etc/passwd')]);
    assert.match(
      await refused(within(5000, resolveUser(fifo, 'someone'))),
      /not a regular file/,
      'a fifo is not waited on',
    );
  }));

test('a gzip bomb is refused at the byte cap, quickly and with little written; the scratch folder is removed', () =>
  withTempDir('mvos-oci-hostile-', async (dir) => {
    const cap = 4 << 20;
    const bomb = await layerTar([{ name: 'big', content: Buffer.alloc(64 << 20) }]);
    await writeLayout(join(dir, 'layout'), [bomb], SETTINGS, [true]);
    const out = join(dir, 'out');
    const started = Date.now();
    const work = unpackOciImage(join(dir, 'layout'), out, { maxBytes: cap });
    const peak = await peakBytes(out, work);
    const took = Date.now() - started;
    assert.ok(peak < cap + (1 << 20), `${peak} bytes were on disk at the most, the cap is ${cap}`);
    assert.match(await refused(work), /more than 4 MiB.*maxBytes/);
    assert.ok(took < 5000, `refused in ${took} ms`);
    assert.equal(await readdir(out), [], 'the scratch folder is gone');
  }));

test('a damaged or truncated gzip layer is a clear refusal, not a crash of the process', () =>
  withTempDir('mvos-oci-hostile-', async (dir) => {
    const layer = await layerTar([...BASE, { name: 'etc/motd', content: 'some text to compress '.repeat(4000) }]);
    const gz = gzipSync(layer);
    const damaged = Buffer.from(gz);
    damaged[40] = damaged.readUInt8(40) ^ 0xff;
    damaged[41] = damaged.readUInt8(41) ^ 0xff;
    for (const [name, stored] of [
      ['damaged', damaged],
      ['truncated', gz.subarray(0, gz.length >> 1)],
    ] as const) {
      const { members } = savedMembers(layer, true);
      members[2] = { name: 'layer0/layer.tar', content: stored };
      await writeFile(join(dir, `${name}.tar`), await layerTar(members));
      assert.match(
        await refused(unpackOciImage(join(dir, `${name}.tar`), join(dir, name))),
        /cannot read a layer of the image/,
        name,
      );
      assert.equal(await readdir(join(dir, name)), [], `${name}: the scratch folder is gone`);
    }
  }));

test('an image with more entries than the cap is refused, in its layers and in its archive', () =>
  withTempDir('mvos-oci-hostile-', async (dir) => {
    const many: Member[] = Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, content: '' }));
    await writeLayout(join(dir, 'layout'), [await layerTar([...BASE, ...many])], SETTINGS);
    assert.match(
      await refused(unpackOciImage(join(dir, 'layout'), join(dir, 'out'), { maxEntries: 20 })),
      /more than 20 entries.*maxEntries/,
    );
    assert.equal(await readdir(join(dir, 'out')), []);
    const { members } = savedMembers(await layerTar(BASE), true);
    await writeFile(join(dir, 'saved.tar'), await layerTar([...members, ...many]));
    assert.match(
      await refused(unpackOciImage(join(dir, 'saved.tar'), join(dir, 'out2'), { maxEntries: 20 })),
      /more than 20 entries.*maxEntries/,
    );
    assert.equal(await readdir(join(dir, 'out2')), []);
    const fine = await unpackOciImage(join(dir, 'saved.tar'), join(dir, 'out3'), { maxEntries: 60 });
    assert.ok(existsSync(fine.rootfs), 'under the cap it unpacks');
  }));

test('whiteouts .wh.., .wh... and .wh. at any depth remove neither the root, its parent nor the folder they sit in', () =>
  withTempDir('mvos-oci-hostile-', async (dir) => {
    const parent = join(dir, 'parent');
    const root = join(parent, 'root');
    await mkdir(root, { recursive: true });
    await writeFile(join(parent, 'sibling'), 'beside the root');
    const apply = async (members: Member[]) =>
      applyLayer(root, Readable.from(await layerTar(members)), { owners: 'keep', dirModes: new Map() });
    await apply([{ name: 'a/b/keep', content: 'kept' }]);
    for (const name of ['a/b/.wh..', 'a/b/.wh...', 'a/.wh..', '.wh..', '.wh...', 'a/.wh.', 'a/b/./.wh..']) {
      const outcome = apply([{ name }]);
      await outcome.catch(() => undefined);
      assert.ok(existsSync(join(root, 'a/b/keep')), `${name} left the tree alone`);
      assert.ok(existsSync(join(parent, 'sibling')), `${name} left the root's parent alone`);
      assert.match(await refused(outcome), /whiteout/, name);
    }
    await apply([{ name: 'a/b/.wh.keep' }]);
    assert.not.ok(existsSync(join(root, 'a/b/keep')), 'an ordinary whiteout still works');
  }));

test.run();
