import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { FileTree } from '../rootfs/tree.ts';
import { assertExtracted, busyboxTree, entry, lsMode } from '../rootfs/tree-entries.test-support.ts';
import { writeCpioNewc } from './cpio.ts';

const MTIME = 1700000000;
const UNICODE = 'etc/grüße — ✓.txt';
const LONG = `usr/lib/${'x'.repeat(200)}/${'y'.repeat(200)}`;

// What an initramfs holds: an /init, setuid and sticky bits, symlinks, a hard link, devices, every data length mod 4.
function sampleTree(options: { devices?: boolean } = {}): FileTree {
  const tree = new FileTree();
  tree.add(entry('init', 'file', { mode: 0o755, content: Buffer.from('#!/bin/sh\nexec /bin/sh\n') }));
  tree.add(entry('usr/bin/busybox', 'file', { mode: 0o755, content: Buffer.from('\x7fELF busybox') }));
  tree.add(entry('bin', 'symlink', { linkname: 'usr/bin' }));
  tree.add(entry('usr/bin/sh', 'symlink', { linkname: 'busybox' }));
  tree.add(entry('usr/bin/ash', 'hardlink', { linkname: 'usr/bin/busybox' }));
  tree.add(entry('usr/bin/su', 'file', { mode: 0o4755, content: Buffer.from('su') }));
  tree.add(entry('usr/bin/wall', 'file', { mode: 0o2755, gid: 5, content: Buffer.from('wall') }));
  tree.add(entry('tmp', 'directory', { mode: 0o1777 }));
  tree.add(entry('root', 'directory', { mode: 0o700 }));
  tree.add(entry('home/user/.profile', 'file', { uid: 1000, gid: 1000, content: Buffer.from('PS1=$\n') }));
  tree.add(entry('etc/shadow', 'file', { mode: 0o640, gid: 42, content: Buffer.from('root:*:1::::::\n') }));
  tree.add(entry('etc/empty', 'file', { content: Buffer.alloc(0) }));
  for (let n = 1; n <= 8; n++) tree.add(entry(`etc/pad/${'p'.repeat(n)}`, 'file', { content: Buffer.alloc(n, n) }));
  tree.add(entry(UNICODE, 'file', { content: Buffer.from('hallo') }));
  tree.add(entry(LONG, 'file', { content: Buffer.from('deep') }));
  tree.add(entry('big.bin', 'file', { content: Buffer.alloc(100003, 0x5a) }));
  tree.add(entry('run/initctl', 'fifo', { mode: 0o600 }));
  if (options.devices !== false) {
    tree.add(entry('dev/console', 'char', { mode: 0o600, devmajor: 5, devminor: 1 }));
    tree.add(entry('dev/vda', 'block', { mode: 0o660, gid: 6, devmajor: 254, devminor: 16 }));
  }
  return tree;
}

interface Header {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  filesize: number;
  devmajor: number;
  devminor: number;
  rdevmajor: number;
  rdevminor: number;
  check: number;
  name: string;
  data: Buffer;
}

// An independent reader of the newc layout, to check the fields GNU cpio does not print.
function parseNewc(buf: Buffer): { headers: Header[]; end: number } {
  const headers: Header[] = [];
  let offset = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    assert.is(offset % 4, 0, 'headers start 4-aligned');
    assert.is(buf.toString('latin1', offset, offset + 6), '070701', `magic at ${offset}`);
    const field = (i: number) => parseInt(buf.toString('latin1', offset + 6 + i * 8, offset + 14 + i * 8), 16);
    const namesize = field(11);
    const name = buf.toString('utf8', offset + 110, offset + 110 + namesize - 1);
    assert.is(buf[offset + 110 + namesize - 1], 0, 'names end in NUL');
    const dataStart = align(offset + 110 + namesize);
    const filesize = field(6);
    const header: Header = {
      ino: field(0),
      mode: field(1),
      uid: field(2),
      gid: field(3),
      nlink: field(4),
      mtime: field(5),
      filesize,
      devmajor: field(7),
      devminor: field(8),
      rdevmajor: field(9),
      rdevminor: field(10),
      check: field(12),
      name,
      data: buf.subarray(dataStart, dataStart + filesize),
    };
    offset = align(dataStart + filesize);
    if (name === 'TRAILER!!!') return { headers, end: offset };
    headers.push(header);
  }
}

function cpioMode(mode: number): string {
  const letters = new Map([
    [0o100000, '-'],
    [0o040000, 'd'],
    [0o120000, 'l'],
    [0o020000, 'c'],
    [0o060000, 'b'],
    [0o010000, 'p'],
  ]);
  return lsMode(letters.get(mode & 0o170000) ?? '?', mode);
}

interface Listed {
  perm: string;
  nlink: string;
  owner: string;
  size: string;
  name: string;
  target?: string;
}

// GNU cpio's `-tv` lines: perm, links, owner, group, size (or "major, minor"), date, name [-> target].
function parseListing(stdout: string): Listed[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match =
        /^(\S{10})\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+(?:,\s+\d+)?)\s+\w{3}\s+\d+\s+(?:\d{4}|\d\d:\d\d)\s(.*)$/.exec(line);
      assert.ok(match, `unexpected cpio line: ${line}`);
      const [, perm, nlink, user, group, size, rest] = match;
      assert.ok(perm && nlink && user && group && size && rest !== undefined, `unexpected cpio line: ${line}`);
      const [name, target] = perm.startsWith('l') ? rest.split(' -> ') : [rest];
      assert.ok(name !== undefined, `unexpected cpio line: ${line}`);
      return {
        perm,
        nlink,
        owner: `${user}/${group}`,
        size: size.replace(/,\s+/, ','),
        name,
        ...(target !== undefined ? { target } : {}),
      };
    });
}

// What GNU cpio must list for a tree; a hard link is listed as the copy of its target that the archive holds.
function expectedListing(tree: FileTree, numeric: boolean): Listed[] {
  const who = (id: number) => (numeric || id !== 0 ? String(id) : 'root');
  return tree.entries().map((e) => {
    const holder = e.type === 'hardlink' ? tree.get(e.linkname!)! : e;
    const typeBits = {
      file: 0o100000,
      hardlink: 0o100000,
      directory: 0o040000,
      symlink: 0o120000,
      char: 0o020000,
      block: 0o060000,
      fifo: 0o010000,
    }[holder.type];
    const size =
      holder.type === 'char' || holder.type === 'block'
        ? `${holder.devmajor},${holder.devminor}`
        : String(
            holder.type === 'file'
              ? holder.content!.length
              : holder.type === 'symlink'
                ? Buffer.byteLength(holder.linkname!)
                : 0,
          );
    return {
      perm: cpioMode(typeBits | holder.mode),
      nlink: holder.type === 'directory' ? '2' : '1',
      owner: `${who(holder.uid)}/${who(holder.gid)}`,
      size,
      name: e.path,
      ...(e.type === 'symlink' ? { target: e.linkname } : {}),
    };
  });
}

test('GNU cpio lists every entry with its mode, owner, size and symlink target', async () => {
  const tree = sampleTree();
  const archive = await writeCpioNewc(tree, { mtime: MTIME });
  const numeric = await runTool('cpio', ['-itv', '--numeric-uid-gid', '--quiet'], {
    input: archive,
    env: { TZ: 'UTC' },
  });
  assert.equal(parseListing(numeric.stdout), expectedListing(tree, true));
  const named = await runTool('cpio', ['-itv', '--quiet'], { input: archive, env: { TZ: 'UTC' } });
  const listed = parseListing(named.stdout);
  // Owner names come from this machine's passwd and group files; root is the one every machine has.
  const rootOwned = (l: Listed) => l.owner === 'root/root';
  assert.equal(listed.filter(rootOwned), expectedListing(tree, false).filter(rootOwned));
  assert.ok(listed.filter(rootOwned).length > 20);
  const perms = new Map(listed.map((l) => [l.name, l.perm]));
  assert.is(perms.get('init'), '-rwxr-xr-x');
  assert.is(perms.get('bin'), 'lrwxrwxrwx');
  assert.is(perms.get('usr'), 'drwxr-xr-x');
  assert.is(perms.get('usr/bin/su'), '-rwsr-xr-x');
  assert.is(perms.get('usr/bin/wall'), '-rwxr-sr-x');
  assert.is(perms.get('tmp'), 'drwxrwxrwt');
  assert.is(perms.get('dev/console'), 'crw-------');
  assert.is(perms.get('run/initctl'), 'prw-------');
});

test('the newc fields: sequential inodes, nlink 1, no device, fixed mtime, check 0, aligned, 512-byte blocks', async () => {
  const tree = sampleTree();
  const archive = await writeCpioNewc(tree, { mtime: MTIME });
  const { headers, end } = parseNewc(archive);
  assert.is(archive.length % 512, 0);
  assert.ok(
    archive.subarray(end).every((byte) => byte === 0),
    'only zeros after the trailer',
  );
  assert.equal(
    headers.map((h) => h.name),
    tree.entries().map((e) => e.path),
    'tree order, no root entry',
  );
  headers.forEach((h, index) => {
    assert.is(h.ino, index + 1);
    assert.is(h.mtime, MTIME);
    assert.equal([h.devmajor, h.devminor, h.check], [0, 0, 0]);
    assert.is(h.nlink, (h.mode & 0o170000) === 0o040000 ? 2 : 1);
  });
  const byName = new Map(headers.map((h) => [h.name, h]));
  assert.equal([byName.get('dev/vda')!.rdevmajor, byName.get('dev/vda')!.rdevminor], [254, 16]);
  assert.ok(byName.get('usr/bin/ash')!.data.equals(Buffer.from('\x7fELF busybox')), 'a hard link is a full copy');
  assert.is(byName.get('usr/bin/ash')!.mode, 0o100755);
  assert.is(byName.get('bin')!.data.toString(), 'usr/bin', 'a symlink holds its target as data');
  assert.ok(byName.get(UNICODE)!.data.equals(Buffer.from('hallo')));
});

test('cpio -id reproduces every file, mode, owner, link and device', async () => {
  const root = process.getuid?.() === 0;
  const tree = sampleTree({ devices: root });
  const work = await mkdtemp(join(tmpdir(), 'mvos-cpio-test-'));
  try {
    await runTool('cpio', ['-id', '--no-absolute-filenames', '--quiet', '--preserve-modification-time', '-D', work], {
      input: await writeCpioNewc(tree, { mtime: MTIME }),
    });
    await assertExtracted(work, tree, { mtime: MTIME, owners: root, hardlinks: 'copies', linkAndFolderTimes: false });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('with links, hard links stay links: one inode, nlink per name, the bytes once, wherever the names sort', async () => {
  const root = process.getuid?.() === 0;
  const tree = sampleTree({ devices: root });
  // A name that sorts before the file it links to: its entry comes first and carries the bytes.
  tree.add(entry('aaa-first-link', 'hardlink', { linkname: 'usr/bin/busybox' }));
  const copies = await writeCpioNewc(tree, { mtime: MTIME });
  const linked = await writeCpioNewc(tree, { mtime: MTIME, links: true });
  const busybox = tree.get('usr/bin/busybox')!.content!.length;
  assert.ok(copies.length - linked.length >= 2 * busybox - 1024, `${copies.length} → ${linked.length}`);
  const headers = parseNewc(linked).headers;
  const names = headers.filter((h) => h.nlink === 3);
  assert.is(names.length, 3);
  assert.is(new Set(names.map((h) => h.ino)).size, 1);
  assert.equal(
    names.map((h) => h.filesize),
    [busybox, 0, 0],
  );
  const work = await mkdtemp(join(tmpdir(), 'mvos-cpio-test-'));
  try {
    await runTool('cpio', ['-id', '--no-absolute-filenames', '--quiet', '--preserve-modification-time', '-D', work], {
      input: linked,
    });
    await assertExtracted(work, tree, { mtime: MTIME, owners: root, hardlinks: 'linked', linkAndFolderTimes: false });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('writes are deterministic; the mtime and the tree are what change the bytes', async () => {
  const once = await writeCpioNewc(sampleTree(), { mtime: MTIME });
  assert.ok(once.equals(await writeCpioNewc(sampleTree(), { mtime: MTIME })));
  assert.ok(once.equals(await writeCpioNewc(sampleTree().clone(), { mtime: MTIME })));
  assert.not.ok(once.equals(await writeCpioNewc(sampleTree(), { mtime: 0 })));
  const zero = parseNewc(await writeCpioNewc(sampleTree(), { mtime: 0 })).headers;
  assert.ok(
    zero.every((h) => h.mtime === 0),
    'an mtime of 0 stays 0',
  );
  const empty = await writeCpioNewc(new FileTree(), { mtime: 0 });
  assert.is(empty.length, 512);
  assert.equal(parseNewc(empty).headers, []);
  for (const mtime of [-1, 0.5, 2 ** 32]) {
    const refused = await writeCpioNewc(new FileTree(), { mtime }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.instance(refused, FailureError, `mtime ${mtime} is refused`);
  }
});

test('busybox-static as an initramfs: GNU cpio lists what the tree holds', async () => {
  const tree = await busyboxTree();
  tree.add(
    entry('init', 'file', { mode: 0o755, content: Buffer.from('#!/bin/busybox sh\n/bin/busybox poweroff -f\n') }),
  );
  const archive = await writeCpioNewc(tree, { mtime: 0 });
  const listed = parseListing(
    (await runTool('cpio', ['-itv', '--numeric-uid-gid', '--quiet'], { input: archive, env: { TZ: 'UTC' } })).stdout,
  );
  assert.equal(listed, expectedListing(tree, true));
  assert.ok(listed.some((l) => l.name === 'bin/busybox' && l.perm === '-rwxr-xr-x'));
});

test.run();
