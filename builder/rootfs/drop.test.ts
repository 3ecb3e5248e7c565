import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../../common/errors.ts';
import { compileGlobs, defaultDropRules, dropFilter, dropLinksToDropped } from './drop.ts';
import { FileTree } from './tree.ts';
import { entry } from './tree-entries.test-support.ts';

function check(glob: string, matching: string[], notMatching: string[]): void {
  const match = compileGlobs([glob]);
  for (const path of matching) assert.ok(match(path), `${glob} matches ${path}`);
  for (const path of notMatching) assert.not.ok(match(path), `${glob} does not match ${path}`);
}

test('* and ? stay within one segment; the whole path must match', () => {
  check(
    'usr/lib/*.so',
    ['usr/lib/libz.so', 'usr/lib/.so'],
    ['usr/lib/x/libz.so', 'usr/lib/libz.so.1', 'a/usr/lib/libz.so', 'usr/lib'],
  );
  check('etc/rc?.d', ['etc/rc1.d', 'etc/rcS.d'], ['etc/rc.d', 'etc/rc10.d', 'etc/rc/.d']);
  check(
    'usr/bin/busybox',
    ['usr/bin/busybox', '/usr/bin/busybox', 'usr/bin/busybox/'],
    ['usr/bin/busybox2', 'usr/bin/busy'],
  );
});

test('** spans zero or more segments wherever it stands', () => {
  check(
    'usr/share/doc/**',
    ['usr/share/doc', 'usr/share/doc/x', 'usr/share/doc/x/y/copyright'],
    ['usr/share/docs', 'usr/share', 'usr/share/doc-base/x'],
  );
  check('**/*.pyc', ['a.pyc', 'usr/lib/python3/x.pyc'], ['usr/lib/x.pyc/y', 'x.py']);
  check('usr/**/locale', ['usr/locale', 'usr/share/locale', 'usr/a/b/locale'], ['usr/share/locale/de', 'usrlocale']);
  check('**', ['a', 'a/b/c'], []);
  check('usr/lib/**.a', ['usr/lib/libc.a', 'usr/lib/x/libc.a'], ['usr/lib/libc.so']);
});

test('a leading / is ignored and regex characters are literal', () => {
  check('/usr/share/man/**', ['usr/share/man/man1/ls.1.gz'], []);
  check('etc/(x)+[y].{z}$', ['etc/(x)+[y].{z}$'], ['etc/xx[y].{z}', 'etc/(x)+y.z']);
  assert.not.ok(compileGlobs([])('anything'), 'no globs match nothing');
  assert.throws(
    () => compileGlobs(['usr', '/']),
    (e: unknown) => e instanceof UserError && /empty/.test(e.message),
  );
});

test('the default rules drop docs, manuals, translations and packaging data, nothing else', () => {
  const { keep, rules } = dropFilter([]);
  assert.equal(rules, [...defaultDropRules]);
  for (const path of [
    'usr/share/doc',
    'usr/share/doc/busybox-static/copyright',
    'usr/share/doc-base/unzip',
    'usr/share/man/man1/busybox.1.gz',
    'usr/share/man/de/man8/x.8.gz',
    'usr/share/info/cpio.info.gz',
    'usr/share/locale/de/LC_MESSAGES/cpio.mo',
    'usr/share/lintian/overrides/busybox-static',
    'usr/share/bug/x/control',
    'usr/share/gtk-doc/html/x',
    'usr/share/help/C/x.page',
  ]) {
    assert.not.ok(keep(path), `drops ${path}`);
  }
  for (const path of [
    'usr/bin/busybox',
    'usr/share',
    'usr/share/zoneinfo/UTC',
    'usr/lib/locale/C.utf8/LC_CTYPE',
    'usr/share/initramfs-tools/hooks/zz-busybox',
    'etc/doc',
  ]) {
    assert.ok(keep(path), `keeps ${path}`);
  }
  assert.ok(Object.isFrozen(defaultDropRules));
});

test('a recipe adds its own rules to the defaults', () => {
  const { keep, rules } = dropFilter(['usr/lib/x86_64-linux-gnu/gconv/**', '/etc/cron.*/**']);
  assert.is(rules.length, defaultDropRules.length + 2);
  assert.not.ok(keep('usr/lib/x86_64-linux-gnu/gconv/UTF-16.so'));
  assert.not.ok(keep('etc/cron.daily/apt'));
  assert.not.ok(keep('usr/share/doc/x'));
  assert.ok(keep('etc/crontab'));
});

test('links to what a rule dropped go too; links to kept files and to what was never there stay', () => {
  const tree = new FileTree();
  tree.mkdirp('usr/lib/ipxe/qemu', { origin: 'test' });
  tree.add(entry('usr/lib/ipxe/qemu/efi-virtio.rom', 'file', { content: Buffer.from('rom') }));
  tree.add(entry('usr/lib/ipxe/1af41000.rom', 'symlink', { linkname: 'qemu/efi-virtio.rom' }));
  tree.add(entry('usr/lib/ipxe/82540em.rom', 'symlink', { linkname: 'qemu/pxe-e1000.rom' }));
  tree.add(entry('etc/mtab', 'symlink', { linkname: '/proc/self/mounts' }));
  const { keep } = dropFilter(['/usr/lib/ipxe/qemu/*-e1000*.rom']);
  assert.equal(dropLinksToDropped(tree, keep), ['usr/lib/ipxe/82540em.rom']);
  assert.ok(tree.has('usr/lib/ipxe/1af41000.rom'));
  assert.ok(tree.has('etc/mtab'), "a link to a run-time path is the package's business");
});

test.run();
