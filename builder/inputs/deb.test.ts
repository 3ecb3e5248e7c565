import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError, must } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { lsMode } from '../rootfs/tree-entries.test-support.ts';
import { type DebEntry, debDataEntries, debToTarStream, parseAr, parseControl, readDeb } from './deb.ts';

const ARCHIVES = '/var/cache/apt/archives';
// GNU tar prints mtimes in local time; pin the zone so both listings agree.
const UTC = { TZ: 'UTC' };

// busybox-static if it is in apt's cache, else the first cached .deb that holds a symlink.
async function findRealDeb(): Promise<string> {
  const debs = existsSync(ARCHIVES)
    ? readdirSync(ARCHIVES)
        .filter((name) => name.endsWith('.deb'))
        .sort()
    : [];
  const busybox = debs.find((name) => name.startsWith('busybox-static_'));
  if (busybox) return join(ARCHIVES, busybox);
  for (const name of debs) {
    const listing = await runTool('dpkg-deb', ['-c', join(ARCHIVES, name)], { allowFailure: true });
    if (/^l/m.test(listing.stdout)) return join(ARCHIVES, name);
  }
  throw new Error(
    `no .deb to test against in ${ARCHIVES}: run \`apt-get install --download-only busybox-static\` (offline tests need one real package in apt's cache)`,
  );
}

// A small cached .deb with both hard links and symlinks, if this machine has one of the known ones.
function findDebWithLinks(): string | undefined {
  if (!existsSync(ARCHIVES)) return undefined;
  const debs = readdirSync(ARCHIVES).sort();
  for (const prefix of ['unzip_', 'perl_', 'perl-base_']) {
    const found = debs.find((name) => name.startsWith(prefix) && name.endsWith('.deb'));
    if (found) return join(ARCHIVES, found);
  }
  return undefined;
}

interface Listed {
  perm: string;
  owner: string;
  size: string;
  mtime: string;
  name: string;
  target?: string;
}

const strip = (path: string) => path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');

// Parses GNU tar's `-tv` listing (which `dpkg-deb -c` prints too), dropping the archive's root.
function parseListing(text: string): Listed[] {
  const rows: Listed[] = [];
  for (const line of text.split('\n').filter(Boolean)) {
    const match = /^(\S{10}) (\S+)\s+(\S+) (\d{4}-\d\d-\d\d \d\d:\d\d) (.*)$/.exec(line);
    assert.ok(match, `unexpected listing line: ${line}`);
    const [, perm, owner, size, mtime, rest] = match;
    assert.ok(perm && owner && size && mtime && rest !== undefined, `unexpected listing line: ${line}`);
    let name: string | undefined = rest;
    let target: string | undefined;
    if (perm.startsWith('l')) [name, target] = rest.split(' -> ');
    if (perm.startsWith('h')) {
      [name, target] = rest.split(' link to ');
      assert.ok(target !== undefined, `unexpected listing line: ${line}`);
      target = strip(target);
    }
    assert.ok(name !== undefined, `unexpected listing line: ${line}`);
    if (strip(name) === '' || strip(name) === '.') continue;
    rows.push({ perm, owner, size, mtime, name: strip(name), ...(target !== undefined ? { target } : {}) });
  }
  return rows;
}

// The ls-style permission string GNU tar prints for an entry.
function debMode(entry: DebEntry): string {
  const { type, mode } = entry.header;
  return lsMode(
    { file: '-', directory: 'd', symlink: 'l', link: 'h', 'character-device': 'c', 'block-device': 'b', fifo: 'p' }[
      type
    ],
    mode,
  );
}

function asListed(entry: DebEntry, numeric = false): Listed {
  const h = entry.header;
  const owner = numeric ? `${h.uid}/${h.gid}` : `${h.uname || h.uid}/${h.gname || h.gid}`;
  const size =
    h.type === 'character-device' || h.type === 'block-device' ? `${h.devmajor},${h.devminor}` : String(h.size);
  const mtime = h.mtime.toISOString().slice(0, 16).replace('T', ' ');
  return {
    perm: debMode(entry),
    owner,
    size,
    mtime,
    name: h.name,
    ...(h.linkname !== undefined ? { target: h.linkname } : {}),
  };
}

async function allEntries(buf: Buffer): Promise<DebEntry[]> {
  const entries: DebEntry[] = [];
  for await (const entry of debDataEntries(buf)) entries.push(entry);
  return entries;
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function filesUnder(root: string): Promise<string[]> {
  const found = await readdir(root, { recursive: true });
  return found.map((path) => strip(String(path))).sort();
}

// Checks everything mvos reads from a .deb against dpkg-deb and GNU tar, the reference implementations.
async function compareWithDpkg(debPath: string): Promise<void> {
  const buf = await readFile(debPath);
  const work = await mkdtemp(join(tmpdir(), 'mvos-deb-test-'));
  try {
    const entries = await allEntries(buf);
    assert.ok(entries.length > 0, `${debPath} has entries`);
    for (const entry of entries) {
      assert.not.match(entry.header.name, /^\.?\//, `names have no leading ./: ${entry.header.name}`);
      assert.is(
        entry.content.length,
        entry.header.type === 'file' ? entry.header.size : 0,
        `${entry.header.name} content length`,
      );
    }

    // The listing: names, types, modes, owners, sizes, mtimes, link targets, in archive order.
    const dpkgList = parseListing((await runTool('dpkg-deb', ['-c', debPath], { env: UTC })).stdout);
    assert.equal(
      entries.map((e) => asListed(e)),
      dpkgList,
      `${debPath}: listing matches dpkg-deb -c`,
    );

    // The contents: every file byte-equal to what dpkg-deb -x writes, every symlink pointing the same way.
    const dpkgRoot = join(work, 'dpkg');
    await runTool('dpkg-deb', ['-x', debPath, dpkgRoot]);
    assert.equal(
      entries.map((e) => e.header.name).sort(),
      await filesUnder(dpkgRoot),
      `${debPath}: same paths as dpkg-deb -x`,
    );
    const byName = new Map(entries.map((e) => [e.header.name, e]));
    for (const { header, content } of entries) {
      const onDisk = join(dpkgRoot, header.name);
      if (header.type === 'file')
        assert.ok((await readFile(onDisk)).equals(content), `${header.name} content is byte-equal`);
      if (header.type === 'symlink')
        assert.is(await readlink(onDisk), header.linkname, `${header.name} symlink target`);
      if (header.type === 'link') {
        assert.ok(
          (await readFile(onDisk)).equals(byName.get(header.linkname!)!.content),
          `${header.name} hard link content`,
        );
        assert.is(
          (await lstat(onDisk)).ino,
          (await lstat(join(dpkgRoot, header.linkname!))).ino,
          `${header.name} is a hard link`,
        );
      }
    }

    // The control archive: every field as `dpkg-deb -f` prints it, every member as `dpkg-deb -e` writes it.
    const info = await readDeb(buf, debPath);
    const fieldNames = [...(await runTool('dpkg-deb', ['-f', debPath])).stdout.matchAll(/^([^\s:]+):/gm)].map((m) =>
      must(m[1], 'a control field name'),
    );
    assert.equal(Object.keys(info.control), fieldNames, `${debPath}: control field names`);
    for (const field of fieldNames) {
      const expected = (await runTool('dpkg-deb', ['-f', debPath, field])).stdout.replace(/\n$/, '');
      assert.is(info.control[field], expected, `control field ${field}`);
    }
    const controlRoot = join(work, 'control');
    await runTool('dpkg-deb', ['-e', debPath, controlRoot]);
    assert.equal([...info.controlFiles.keys()].sort(), await filesUnder(controlRoot), `${debPath}: control members`);
    for (const [name, content] of info.controlFiles) {
      assert.ok((await readFile(join(controlRoot, name))).equals(content), `control member ${name} is byte-equal`);
    }
    const dataMember = parseAr(buf).find((m) => m.name.startsWith('data.tar'))!.name;
    assert.is(
      info.dataCompression,
      ({ 'data.tar': 'none', 'data.tar.xz': 'xz', 'data.tar.zst': 'zst', 'data.tar.gz': 'gz' } as const)[
        dataMember as 'data.tar'
      ],
    );

    // Our tar stream, read back by GNU tar: the same listing (names, numeric owners too) and the same bytes.
    const tarball = await collect(debToTarStream(buf));
    assert.equal(
      parseListing((await runTool('tar', ['-tvf', '-'], { input: tarball, env: UTC })).stdout),
      dpkgList,
      `${debPath}: tar -tvf lists what dpkg-deb -c lists`,
    );
    assert.equal(
      parseListing((await runTool('tar', ['--numeric-owner', '-tvf', '-'], { input: tarball, env: UTC })).stdout),
      entries.map((e) => asListed(e, true)),
      `${debPath}: numeric owners are kept`,
    );
    const tarRoot = join(work, 'tar');
    await mkdir(tarRoot);
    await runTool('tar', ['-xf', '-', '-C', tarRoot], { input: tarball });
    assert.equal(await filesUnder(tarRoot), await filesUnder(dpkgRoot));
    for (const { header, content } of entries) {
      if (header.type === 'file')
        assert.ok((await readFile(join(tarRoot, header.name))).equals(content), `${header.name} extracted by tar`);
      if (header.type === 'symlink') assert.is(await readlink(join(tarRoot, header.name)), header.linkname);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// Builds a package with dpkg-deb itself, holding every kind of entry mvos must carry across.
async function buildTestDeb(dir: string, compression: 'xz' | 'gzip' | 'zstd' | 'none'): Promise<string> {
  const pkg = join(dir, `pkg-${compression}`);
  const at = (path: string) => join(pkg, path);
  await mkdir(at('DEBIAN'), { recursive: true });
  await writeFile(
    at('DEBIAN/control'),
    [
      'Package: mvos-test',
      'Version: 1:2.0-1',
      'Architecture: all',
      'Maintainer: Multiverse QA <qa@example.org>',
      'Depends: libc6 (>= 2.36),',
      ' zlib1g',
      'Description: a package for testing',
      ' First line of the long description.',
      ' .',
      ' Third line, after a blank one.',
      '',
    ].join('\n'),
  );
  await writeFile(at('DEBIAN/conffiles'), '/etc/mvos-test.conf\n');
  await writeFile(at('DEBIAN/postinst'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  await mkdir(at('usr/bin'), { recursive: true });
  await mkdir(at('usr/sbin'), { recursive: true });
  await mkdir(at('etc'), { recursive: true });
  const longDir = `usr/share/mvos/${'a'.repeat(60)}/${'b'.repeat(60)}`;
  await mkdir(at(longDir), { recursive: true });
  await mkdir(at('var/lib/private'), { recursive: true, mode: 0o700 });
  await chmod(at('var/lib/private'), 0o700);
  await writeFile(at('usr/bin/tool'), randomBytes(200_000), { mode: 0o755 });
  await chmod(at('usr/bin/tool'), 0o755);
  await link(at('usr/bin/tool'), at('usr/bin/tool-again'));
  await symlink('tool', at('usr/bin/relative-link'));
  await symlink('/usr/bin/tool', at('usr/sbin/absolute-link'));
  await writeFile(at('usr/sbin/setuid-helper'), '#!/bin/sh\n');
  // Owners other than root must survive; only root may give files away, and chown clears setuid, so it goes first.
  if (process.getuid?.() === 0) await chown(at('usr/sbin/setuid-helper'), 1234, 5678);
  await chmod(at('usr/sbin/setuid-helper'), 0o4755);
  await writeFile(at('etc/mvos-test.conf'), 'setting = 1\n');
  await writeFile(at('etc/secret'), 'hunter2\n');
  await chmod(at('etc/secret'), 0o600);
  await writeFile(at('etc/no-access'), 'nobody may read me\n');
  await chmod(at('etc/no-access'), 0o000);
  await writeFile(at('usr/share/mvos/empty'), '');
  await writeFile(at('usr/share/mvos/größe.txt'), 'non-ASCII name\n');
  await writeFile(at(`${longDir}/${'c'.repeat(80)}.txt`), 'a name past the 100 bytes ustar holds\n');
  const out = join(dir, `mvos-test-${compression}.deb`);
  await runTool('dpkg-deb', [`-Z${compression}`, '--build', pkg, out]);
  return out;
}

test('the real .deb in apt cache reads exactly as dpkg-deb and GNU tar read it', async () => {
  await compareWithDpkg(await findRealDeb());
});

test('a real .deb with hard links and symlinks reads exactly as dpkg-deb reads it', async () => {
  const deb = findDebWithLinks();
  if (!deb) {
    console.log(
      '  (no unzip/perl .deb in apt cache: hard links are checked on the packages dpkg-deb builds below only)',
    );
    return;
  }
  await compareWithDpkg(deb);
});

for (const compression of ['xz', 'zstd', 'gzip', 'none'] as const) {
  test(`a package built by dpkg-deb -Z${compression} reads exactly as dpkg-deb reads it`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvos-deb-build-'));
    try {
      const deb = await buildTestDeb(dir, compression);
      await compareWithDpkg(deb);
      const info = await readDeb(await readFile(deb));
      assert.is(info.dataCompression, ({ xz: 'xz', zstd: 'zst', gzip: 'gz', none: 'none' } as const)[compression]);
      assert.is(info.control.Depends, 'libc6 (>= 2.36), zlib1g');
      assert.is(
        info.control.Description,
        'a package for testing\n First line of the long description.\n .\n Third line, after a blank one.',
      );
      assert.is(info.controlFiles.get('conffiles')?.toString(), '/etc/mvos-test.conf\n');
      const entries = await allEntries(await readFile(deb));
      const find = (name: string) => entries.find((e) => e.header.name === name)!.header;
      assert.is(find('etc/no-access').mode, 0);
      assert.is(find('usr/sbin/setuid-helper').mode, 0o4755);
      assert.equal(
        { ...find('usr/bin/tool-again'), mtime: undefined },
        { ...find('usr/bin/tool-again'), type: 'link', linkname: 'usr/bin/tool', mtime: undefined },
      );
      if (process.getuid?.() === 0)
        assert.equal([find('usr/sbin/setuid-helper').uid, find('usr/sbin/setuid-helper').gid], [1234, 5678]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('the filter drops paths from the tar stream, and mtime overrides every entry', async () => {
  const buf = await readFile(await findRealDeb());
  const tarball = await collect(
    debToTarStream(buf, {
      filter: (path) => !path.startsWith('usr/share/doc'),
      mtime: new Date('2024-01-02T03:04:05Z'),
    }),
  );
  const listed = parseListing((await runTool('tar', ['-tvf', '-'], { input: tarball, env: UTC })).stdout);
  const expected = (await allEntries(buf)).filter((e) => !e.header.name.startsWith('usr/share/doc'));
  assert.ok(expected.length > 0);
  assert.equal(
    listed.map((row) => row.name),
    expected.map((e) => e.header.name),
  );
  assert.ok(listed.every((row) => row.mtime === '2024-01-02 03:04'));
});

test('a filter that drops a hard link target but keeps the link fails by name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-deb-build-'));
  try {
    const buf = await readFile(await buildTestDeb(dir, 'xz'));
    const names = (await allEntries(buf)).map((e) => e.header.name);
    const target =
      names.indexOf('usr/bin/tool') < names.indexOf('usr/bin/tool-again') ? 'usr/bin/tool' : 'usr/bin/tool-again';
    const error = await collect(debToTarStream(buf, { filter: (path) => path !== target, label: 'mvos-test' })).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.instance(error, FailureError);
    assert.match(error!.message, 'mvos-test');
    assert.match(error!.message, 'hard link');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a damaged data member fails loudly instead of yielding a short archive', async () => {
  const buf = Buffer.from(await readFile(await findRealDeb()));
  const data = parseAr(buf).find((m) => m.name.startsWith('data.tar'))!;
  const offset = data.data.byteOffset - buf.byteOffset + Math.floor(data.data.length / 2);
  buf[offset] = buf.readUInt8(offset) ^ 0xff;
  const error = await allEntries(buf).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.instance(error, FailureError);
});

test('stopping early does not hang or leave the decompressor running', async () => {
  const buf = await readFile(await findRealDeb());
  for await (const entry of debDataEntries(buf)) {
    assert.ok(entry.header.name);
    break;
  }
  const pack = debToTarStream(buf);
  const first = await new Promise<Buffer>((resolve) => pack.once('data', (chunk) => resolve(chunk as Buffer)));
  assert.ok(first.length >= 512);
  pack.destroy();
});

test('something that is not a .deb is refused by name', async () => {
  await readDeb(Buffer.from('just text'), 'not-a-package').then(
    () => assert.unreachable('should refuse'),
    (error: Error) => {
      assert.instance(error, FailureError);
      assert.match(error.message, 'not-a-package');
    },
  );
  const truncated = (await readFile(await findRealDeb())).subarray(0, 2000);
  await readDeb(truncated, 'short').then(
    () => assert.unreachable('should refuse'),
    (error: Error) => assert.match(error.message, /short is truncated/),
  );
});

test('parseControl keeps continuation lines and refuses a second paragraph', () => {
  assert.equal(parseControl('Package: a\nDescription: one\n two\n .\n three\nVersion: 1\n'), {
    Package: 'a',
    Description: 'one\n two\n .\n three',
    Version: '1',
  });
  assert.throws(() => parseControl('Package: a\n\nPackage: b\n'), /more than one paragraph/);
});

test('parseAr reads GNU-style names with a trailing slash and odd-sized members', () => {
  const member = (name: string, data: string) => {
    const header = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(data.length).padEnd(10)}\`\n`;
    return header + data + (data.length % 2 ? '\n' : '');
  };
  const archive = Buffer.from(
    `!<arch>\n${member('debian-binary/', '2.0\n')}${member('odd/', 'abc')}${member('last', 'xy')}`,
    'latin1',
  );
  assert.equal(
    parseAr(archive).map((m) => [m.name, m.data.toString()]),
    [
      ['debian-binary', '2.0\n'],
      ['odd', 'abc'],
      ['last', 'xy'],
    ],
  );
});

test.run();
