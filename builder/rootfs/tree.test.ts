import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import { dropFilter } from './drop.ts';
import { addDebToTree, FileTree, normaliseTreePath, resolveInTree, type TreeEntry } from './tree.ts';
import { busyboxDeb, cachedDeb, lsMode } from './tree-entries.test-support.ts';

const file = (path: string, content = '', mode = 0o644, origin = 'test'): TreeEntry => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  content: Buffer.from(content),
  origin,
});
const dir = (path: string, mode = 0o755, origin = 'test'): TreeEntry => ({
  path,
  type: 'directory',
  mode,
  uid: 0,
  gid: 0,
  origin,
});
const symlink = (path: string, linkname: string): TreeEntry => ({
  path,
  type: 'symlink',
  mode: 0o777,
  uid: 0,
  gid: 0,
  linkname,
  origin: 'test',
});
const hardlink = (path: string, linkname: string): TreeEntry => ({
  path,
  type: 'hardlink',
  mode: 0o644,
  uid: 0,
  gid: 0,
  linkname,
  origin: 'test',
});
const paths = (tree: FileTree) => tree.entries().map((e) => e.path);

test('paths are normalised and may not leave the tree', () => {
  assert.is(normaliseTreePath('/./usr//bin/'), 'usr/bin');
  assert.is(normaliseTreePath('./etc/issue'), 'etc/issue');
  assert.is(normaliseTreePath('/'), '');
  assert.throws(
    () => normaliseTreePath('usr/../../etc'),
    (e: unknown) => e instanceof FailureError && /leaves the tree/.test(e.message),
  );
  const tree = new FileTree();
  tree.add(file('/etc//hostname/', 'h'));
  assert.ok(tree.has('etc/hostname'));
  assert.ok(tree.has('/etc/hostname'));
  assert.ok(tree.has(''), 'the root always exists');
  assert.is(tree.get('./etc/hostname')!.content!.toString(), 'h');
});

test('entries are ordered bytewise by path segments, parents first', () => {
  const tree = new FileTree();
  for (const path of ['b', 'a-b', 'a/b/c', 'ä', 'A', 'a.b', 'a/b', 'a', 'a/a', 'Z/z']) {
    if (!tree.has(path)) tree.add(path.includes('/') ? file(path) : dir(path));
  }
  assert.equal(paths(tree), ['A', 'Z', 'Z/z', 'a', 'a/a', 'a/b', 'a/b/c', 'a-b', 'a.b', 'b', 'ä']);
  const seen = new Set<string>();
  for (const entry of tree.entries()) {
    const parent = entry.path.split('/').slice(0, -1).join('/');
    assert.ok(parent === '' || seen.has(parent), `${entry.path} comes after its parent`);
    seen.add(entry.path);
  }
});

test('add creates missing parents as root-owned 0755 directories of origin "implied"', () => {
  const tree = new FileTree();
  tree.add(file('usr/lib/x/y.so', 'elf', 0o644, 'pkg:x'));
  assert.equal(paths(tree), ['usr', 'usr/lib', 'usr/lib/x', 'usr/lib/x/y.so']);
  for (const path of ['usr', 'usr/lib', 'usr/lib/x']) {
    assert.equal({ ...tree.get(path) }, { path, type: 'directory', mode: 0o755, uid: 0, gid: 0, origin: 'implied' });
  }
  // A real directory added later takes over mode, owner and origin, and keeps its children.
  tree.add({ ...dir('usr/lib', 0o700, 'pkg:libc6'), uid: 1, gid: 2 });
  assert.equal(
    { ...tree.get('usr/lib') },
    { path: 'usr/lib', type: 'directory', mode: 0o700, uid: 1, gid: 2, origin: 'pkg:libc6' },
  );
  assert.ok(tree.has('usr/lib/x/y.so'));
});

test('replace semantics: files replace files, never directories; replace: false refuses', () => {
  const tree = new FileTree();
  tree.add(file('etc/issue', 'one', 0o644, 'pkg:base-files'));
  tree.add(file('etc/issue', 'two', 0o600, 'template:/etc/issue'));
  assert.is(tree.get('etc/issue')!.content!.toString(), 'two');
  assert.is(tree.get('etc/issue')!.origin, 'template:/etc/issue');
  assert.throws(() => tree.add(file('etc/issue', 'three'), { replace: false }), /already there/);
  assert.throws(() => tree.add(file('etc', 'x')), /a directory is already there/);
  assert.throws(() => tree.add(symlink('etc', 'x')), /a directory is already there/);
  // Directory over directory always merges, also with replace: false.
  tree.add(dir('etc', 0o750), { replace: false });
  assert.is(tree.get('etc')!.mode, 0o750);
  assert.ok(tree.has('etc/issue'));
  // A directory may replace a file (it has no children to lose).
  tree.add(dir('etc/issue'));
  assert.is(tree.get('etc/issue')!.type, 'directory');
  // A parent that is not a directory is refused, with the hint to resolve symlinks.
  tree.add(file('etc/motd', 'hi'));
  assert.throws(() => tree.add(file('etc/motd/x')), /parent etc\/motd is a file/);
  assert.throws(() => tree.add({ ...file('x'), mode: 0o10000 }), /permission mask/);
  assert.throws(() => tree.add({ ...file('x'), origin: '' }), /origin/);
  assert.throws(() => tree.add(file('/')), /root/);
});

test('entries are frozen: a caller cannot change the tree behind its back', () => {
  const tree = new FileTree();
  const source = file('a', 'x');
  tree.add(source);
  source.mode = 0o777;
  assert.is(tree.get('a')!.mode, 0o644, 'add copies the entry');
  assert.throws(() => {
    (tree.get('a') as TreeEntry).mode = 0o777;
  });
});

test('remove is recursive for directories; size, contentBytes and clone', () => {
  const tree = new FileTree();
  tree.add(file('usr/share/doc/a/copyright', '12345'));
  tree.add(file('usr/share/doc/b', '123'));
  tree.add(file('usr/share/docs', '1'));
  tree.add(symlink('usr/share/link', 'docs'));
  assert.is(tree.size, 8);
  assert.is(tree.contentBytes, 9);
  const copy = tree.clone();
  assert.is(tree.remove('usr/share/doc'), 4);
  assert.is(tree.remove('usr/share/doc'), 0);
  assert.equal(paths(tree), ['usr', 'usr/share', 'usr/share/docs', 'usr/share/link']);
  assert.is(tree.contentBytes, 1);
  assert.is(copy.size, 8, 'the clone is independent');
  assert.is(copy.contentBytes, 9);
  copy.add(file('new'));
  assert.not.ok(tree.has('new'));
  assert.throws(() => tree.remove('/'), /root/);
});

test('hard links: name the content holder, survive replacing or removing their target', () => {
  const tree = new FileTree();
  tree.add(file('usr/bin/unzip', 'UNZIP', 0o755));
  tree.add(hardlink('usr/bin/zipinfo', 'usr/bin/unzip'));
  tree.add(hardlink('usr/bin/zz', '/usr/bin/zipinfo'));
  assert.is(tree.get('usr/bin/zz')!.linkname, 'usr/bin/unzip', 'a link to a link names the file');
  assert.is(tree.contentBytes, 5);
  assert.throws(() => tree.add(hardlink('x', 'missing')), /not in the tree/);
  assert.throws(() => tree.add(hardlink('x', 'usr/bin')), /a directory/);

  // Replacing the target, as a later package would: the links keep the old content, as they would on disk.
  tree.add(file('usr/bin/unzip', 'NEW', 0o755));
  assert.equal({ ...tree.get('usr/bin/zipinfo') }, { ...file('usr/bin/zipinfo', 'UNZIP', 0o755), origin: 'test' });
  assert.equal({ ...tree.get('usr/bin/zz') }, hardlink('usr/bin/zz', 'usr/bin/zipinfo'));

  // Removing the new holder of the group promotes the remaining link.
  tree.remove('usr/bin/zipinfo');
  assert.is(tree.get('usr/bin/zz')!.type, 'file');
  assert.is(tree.get('usr/bin/zz')!.content!.toString(), 'UNZIP');
  // Removing a whole directory with both ends of a link leaves nothing dangling behind.
  tree.add(hardlink('usr/bin/zz2', 'usr/bin/zz'));
  tree.remove('usr');
  assert.is(tree.size, 0);
  tree.add(file('a', 'A'));
  tree.add(hardlink('b', 'a'));
  const copy = tree.clone();
  copy.remove('a');
  assert.is(copy.get('b')!.type, 'file', 'the clone keeps its own link bookkeeping');
  assert.is(tree.get('b')!.type, 'hardlink');
});

test('mkdirp creates missing parents; the mode applies to the last one', () => {
  const tree = new FileTree();
  tree.add(dir('var', 0o711));
  tree.mkdirp('/var/lib/mvos/state', { mode: 0o700, origin: 'generated' });
  assert.equal(paths(tree), ['var', 'var/lib', 'var/lib/mvos', 'var/lib/mvos/state']);
  assert.is(tree.get('var')!.mode, 0o711, 'existing directories are left alone');
  assert.is(tree.get('var/lib')!.mode, 0o755);
  assert.is(tree.get('var/lib/mvos/state')!.mode, 0o700);
  assert.is(tree.get('var/lib/mvos/state')!.origin, 'generated');
  tree.mkdirp('var/lib', { origin: 'again' });
  assert.is(tree.get('var/lib')!.origin, 'generated');
  tree.add(symlink('run', 'var/run'));
  assert.throws(
    () => tree.mkdirp('run/x', { origin: 'generated' }),
    (e: unknown) => e instanceof FailureError && /resolveInTree/.test(e.hint ?? ''),
  );
});

test('resolveInTree follows relative, absolute and chained symlinks and stops loops', () => {
  const tree = new FileTree();
  tree.mkdirp('usr/bin', { origin: 'test' });
  tree.mkdirp('usr/lib/x86_64-linux-gnu', { origin: 'test' });
  tree.add(symlink('bin', 'usr/bin'));
  tree.add(symlink('sbin', '/usr/bin'));
  tree.add(symlink('lib', 'usr/lib'));
  tree.add(symlink('usr/lib64', '../lib'));
  tree.add(symlink('usr/bin/sh', 'busybox'));
  tree.add(symlink('etc/mtab', '/proc/self/mounts'));
  tree.add(symlink('loop/a', 'b'));
  tree.add(symlink('loop/b', '/loop/a'));
  tree.add(symlink('up', '../../../usr'));
  assert.is(resolveInTree(tree, 'bin/busybox'), 'usr/bin/busybox');
  assert.is(resolveInTree(tree, '/sbin/ip'), 'usr/bin/ip');
  assert.is(resolveInTree(tree, 'bin/sh'), 'usr/bin/busybox');
  assert.is(resolveInTree(tree, 'bin/sh', { followLast: false }), 'usr/bin/sh');
  assert.is(resolveInTree(tree, 'usr/lib64/x86_64-linux-gnu/libc.so.6'), 'usr/lib/x86_64-linux-gnu/libc.so.6');
  assert.is(resolveInTree(tree, 'lib'), 'usr/lib');
  assert.is(resolveInTree(tree, 'etc/mtab'), 'proc/self/mounts', 'a target outside the tree resolves as if it existed');
  assert.is(resolveInTree(tree, 'up/bin'), 'usr/bin', "'..' stops at the root");
  assert.is(resolveInTree(tree, 'nothing/here'), 'nothing/here');
  assert.is(resolveInTree(tree, '/'), '');
  assert.throws(
    () => resolveInTree(tree, 'loop/a/x'),
    (e: unknown) => e instanceof FailureError && /more than 40 symlinks/.test(e.message),
  );
});

interface Listed {
  type: string;
  perm: string;
  owner: string;
  size: string;
  name: string;
  target?: string;
}

// GNU tar's numeric listing of a package's data, the reference for what addDebToTree must hold.
async function dpkgListing(deb: string): Promise<Listed[]> {
  const { stdout } = await runTool('sh', [
    '-c',
    'dpkg-deb --fsys-tarfile "$1" | tar --numeric-owner -tvf -',
    'sh',
    deb,
  ]);
  const rows: Listed[] = [];
  for (const line of stdout.split('\n').filter(Boolean)) {
    const match = /^(\S)(\S{9}) (\S+)\s+(\S+) \d{4}-\d\d-\d\d \d\d:\d\d (.*)$/.exec(line);
    assert.ok(match, `unexpected listing line: ${line}`);
    const [, type, perm, owner, size, rest] = match;
    assert.ok(type && perm && owner && size && rest !== undefined, `unexpected listing line: ${line}`);
    let name: string | undefined = rest;
    let target: string | undefined;
    if (type === 'l') [name, target] = rest.split(' -> ');
    if (type === 'h') [name, target] = rest.split(' link to ');
    assert.ok(name !== undefined, `unexpected listing line: ${line}`);
    const strip = (path: string) => path.replace(/^\.\//, '').replace(/\/$/, '');
    if (strip(name) === '' || strip(name) === '.') continue;
    rows.push({
      type,
      perm,
      owner,
      size,
      name: strip(name),
      ...(target !== undefined ? { target: type === 'h' ? strip(target) : target } : {}),
    });
  }
  return rows;
}

const TYPE_CHAR: Record<TreeEntry['type'], string> = {
  file: '-',
  directory: 'd',
  symlink: 'l',
  hardlink: 'h',
  char: 'c',
  block: 'b',
  fifo: 'p',
};

function asListed(entry: Readonly<TreeEntry>): Listed {
  const size =
    entry.type === 'file'
      ? String(entry.content!.length)
      : entry.type === 'char' || entry.type === 'block'
        ? `${entry.devmajor},${entry.devminor}`
        : '0';
  const listed: Listed = {
    type: TYPE_CHAR[entry.type],
    perm: lsMode('', entry.mode),
    owner: `${entry.uid}/${entry.gid}`,
    size,
    name: entry.path,
  };
  if (entry.linkname !== undefined) listed.target = entry.linkname;
  return listed;
}

test('addDebToTree holds what dpkg-deb lists for busybox-static, byte for byte', async () => {
  const deb = busyboxDeb();
  const tree = new FileTree();
  const result = await addDebToTree(tree, await readFile(deb), { origin: 'pkg:busybox-static' });
  const listing = await dpkgListing(deb);
  assert.is(result.added, listing.length);
  assert.equal(result.dropped, []);
  const sortedListing = [...listing].sort((a, b) =>
    Buffer.compare(Buffer.from(a.name.replaceAll('/', '\0')), Buffer.from(b.name.replaceAll('/', '\0'))),
  );
  assert.equal(tree.entries().map(asListed), sortedListing);
  assert.ok(tree.entries().every((e) => e.origin === 'pkg:busybox-static'));
  const work = await mkdtemp(join(tmpdir(), 'mvos-tree-test-'));
  try {
    await runTool('dpkg-deb', ['-x', deb, work]);
    for (const entry of tree.entries()) {
      if (entry.type === 'file')
        assert.ok((await readFile(join(work, entry.path))).equals(entry.content!), `${entry.path} is byte-equal`);
      if (entry.type === 'symlink') assert.is(await readlink(join(work, entry.path)), entry.linkname);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('addDebToTree with the drop rules: docs and man pages go, hard links stay whole', async () => {
  const deb = cachedDeb('unzip_');
  if (!deb) return console.log('  (skipped: no unzip .deb in apt cache)');
  const listing = await dpkgListing(deb);
  const { keep } = dropFilter([]);
  const tree = new FileTree();
  const result = await addDebToTree(tree, await readFile(deb), { origin: 'pkg:unzip', keep });
  const expectedDropped = listing.map((l) => l.name).filter((name) => /^usr\/share\/(doc|man)(\/|$)/.test(name));
  assert.ok(expectedDropped.length > 5, 'unzip ships docs and man pages');
  assert.equal(result.dropped, expectedDropped);
  assert.is(result.added + result.dropped.length, listing.length);
  assert.ok(
    paths(tree).every((path) => !/^usr\/share\/(doc|man)/.test(path)),
    'nothing of doc or man is left',
  );
  assert.ok(tree.has('usr/share'), 'usr/share itself stays');
  const link = listing.find((l) => l.type === 'h')!;
  assert.equal(
    { ...tree.get(link.name) },
    { path: link.name, type: 'hardlink', mode: 0o755, uid: 0, gid: 0, linkname: link.target, origin: 'pkg:unzip' },
  );

  // Dropping a hard link's target turns the first link into a copy of the content.
  const partial = new FileTree();
  const all = new FileTree();
  await addDebToTree(all, await readFile(deb), { origin: 'pkg:unzip' });
  const dropped = await addDebToTree(partial, await readFile(deb), {
    origin: 'pkg:unzip',
    keep: (path) => path !== link.target,
  });
  assert.equal(dropped.dropped, [link.target!]);
  const copy = partial.get(link.name)!;
  assert.is(copy.type, 'file');
  assert.is(copy.mode, all.get(link.target!)!.mode);
  assert.ok(copy.content!.equals(all.get(link.target!)!.content!), 'the copy holds the dropped target’s bytes');
});

test('the drop rules take translations out of a package that ships them', async () => {
  const deb = cachedDeb('cpio_');
  if (!deb) return console.log('  (skipped: no cpio .deb in apt cache)');
  const tree = new FileTree();
  const { dropped } = await addDebToTree(tree, await readFile(deb), { origin: 'pkg:cpio', keep: dropFilter([]).keep });
  assert.ok(
    dropped.some((path) => path.startsWith('usr/share/locale/')),
    'cpio ships translations',
  );
  assert.ok(
    dropped.some((path) => path.startsWith('usr/share/info/')) ||
      dropped.some((path) => path.startsWith('usr/share/man/')),
  );
  assert.ok(paths(tree).every((path) => !path.startsWith('usr/share/locale')));
  assert.ok(tree.has('usr/bin/cpio') || tree.has('bin/cpio'));
});

test('addDebToTree writes through a merged-/usr symlink the way dpkg does', async () => {
  const tree = new FileTree();
  tree.mkdirp('usr/bin', { origin: 'generated' });
  tree.add(symlink('bin', 'usr/bin'));
  const result = await addDebToTree(tree, await readFile(busyboxDeb()), {
    origin: 'pkg:busybox-static',
    keep: dropFilter([]).keep,
  });
  assert.is(tree.get('bin')!.type, 'symlink', 'the package’s bin/ directory does not replace the symlink');
  assert.is(tree.get('usr/bin/busybox')!.type, 'file');
  assert.is(tree.get('usr/bin/busybox')!.mode, 0o755);
  assert.not.ok(result.dropped.includes('bin/busybox'));
  assert.ok(
    result.dropped.includes('usr/share/doc/busybox-static/copyright'),
    'copyright files are dropped with the docs',
  );
});

test('addDebToTree names the package when an entry cannot be added', async () => {
  const tree = new FileTree();
  tree.mkdirp('bin/busybox', { origin: 'generated' });
  try {
    await addDebToTree(tree, await readFile(busyboxDeb()), {
      origin: 'pkg:busybox-static',
      label: 'busybox-static_1.35',
    });
    assert.unreachable('a file where the package needs a directory is refused');
  } catch (error) {
    assert.instance(error, FailureError);
    assert.match((error as Error).message, /^busybox-static_1\.35: /);
  }
});

test.run();
