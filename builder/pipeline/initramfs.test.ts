import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileTree, unchangedPaths } from '../rootfs/tree.ts';
import { entry } from '../rootfs/tree-entries.test-support.ts';
import { SEGMENTS, segmentOf, splitTree, usrImagePaths } from './initramfs.ts';

// A packages layer, and the root the image made of it: one package file changed by an overlay, one left alone, kernel
// modules, a guest image shared by two VMs as a hard link, and the image's own files.
function trees(): { packages: FileTree; root: FileTree } {
  const packages = new FileTree();
  packages.mkdirp('usr/bin', { origin: 'pkg' });
  packages.mkdirp('etc', { origin: 'pkg' });
  packages.add(entry('usr/bin/qemu', 'file', { mode: 0o755, content: Buffer.from('qemu') }));
  packages.add(entry('etc/issue', 'file', { content: Buffer.from('Debian') }));
  const root = packages.clone();
  root.add(entry('etc/issue', 'file', { content: Buffer.from('Multiverse') }));
  root.mkdirp('lib/modules/6.1', { origin: 'kernel' });
  root.add(entry('lib/modules/6.1/kvm.ko', 'file', { content: Buffer.from('ko') }));
  root.mkdirp('usr/share/mvos/vms/controller', { origin: 'image' });
  root.mkdirp('usr/share/mvos/vms/rescue', { origin: 'image' });
  root.add(entry('usr/share/mvos/vms/controller/vmlinuz', 'file', { content: Buffer.from('bzImage') }));
  root.add(
    entry('usr/share/mvos/vms/rescue/vmlinuz', 'hardlink', { linkname: 'usr/share/mvos/vms/controller/vmlinuz' }),
  );
  root.add(entry('init', 'file', { mode: 0o755, content: Buffer.from('#!/bin/sh') }));
  root.add(entry('usr/bin/qemu-link', 'hardlink', { linkname: 'usr/bin/qemu' }));
  return { packages, root };
}

test('each entry is in one segment: unchanged package files, modules, guest images, and what the image added or changed', () => {
  const { packages, root } = trees();
  const trees_ = splitTree(root, segmentOf(root, new Set(unchangedPaths(root, packages))));
  const files = (name: (typeof SEGMENTS)[number]) =>
    trees_
      .get(name)!
      .entries()
      .filter((e) => e.type !== 'directory')
      .map((e) => e.path);
  assert.equal(files('packages'), ['usr/bin/qemu', 'usr/bin/qemu-link']);
  assert.equal(files('kernel'), ['lib/modules/6.1/kvm.ko']);
  assert.equal(files('guests'), ['usr/share/mvos/vms/controller/vmlinuz', 'usr/share/mvos/vms/rescue/vmlinuz']);
  assert.equal(files('image'), ['etc/issue', 'init']);
  // Parent folders come along, as the root has them.
  assert.ok(trees_.get('image')!.has('etc'));
  assert.ok(trees_.get('guests')!.has('usr/share/mvos/vms/rescue'));
  const all = SEGMENTS.flatMap((name) => files(name)).sort();
  const rootFiles = root
    .entries()
    .filter((e) => e.type !== 'directory')
    .map((e) => e.path)
    .sort();
  assert.equal(all, rootFiles, 'nothing lost, nothing twice');
});

test('the /usr image takes the unchanged package files under /usr that boot does not run or keep', () => {
  const { packages, root } = trees();
  const add = (path: string, type: 'file' | 'hardlink' = 'file', linkname?: string) => {
    packages.mkdirp(path.split('/').slice(0, -1).join('/'), { origin: 'pkg' });
    packages.add(entry(path, type, type === 'file' ? { content: Buffer.from(path) } : { linkname }));
  };
  add('usr/bin/busybox');
  add('usr/share/nodejs/acorn.js');
  add('usr/share/qemu/bios.bin');
  add('usr/share/doc/odd name');
  add('usr/lib/tool');
  add('usr/lib/tool-link', 'hardlink', 'usr/lib/tool');
  add('usr/share/fw');
  add('usr/share/fw link', 'hardlink', 'usr/share/fw');
  add('etc/qemu.conf');
  const image = packages.clone();
  for (const e of root.entries()) if (!image.has(e.path) || e.path === 'etc/issue') image.add({ ...e });
  const packaged = new Set(unchangedPaths(image, packages));
  const onDemand = usrImagePaths(image, packaged, { boot: ['/usr/bin/busybox'], unpacked: ['/usr/share/nodejs/**'] });
  // Not busybox (boot runs it), not node's files (kept unpacked), not a name a pseudo file cannot hold, not a file with
  // such a link, not /etc, not what the image changed or added, not modules or guests.
  // (usr/bin/qemu stays too: the image added a hard link to it.)
  assert.equal([...onDemand].sort(), ['usr/lib/tool', 'usr/lib/tool-link', 'usr/share/qemu/bios.bin']);
  const segments = splitTree(image, segmentOf(image, packaged, onDemand));
  assert.ok(segments.get('usr-image')!.has('usr/lib/tool-link'), 'a hard link goes with its file');
  assert.ok(segments.get('packages')!.has('usr/share/fw link'));
  assert.ok(segments.get('packages')!.has('usr/bin/busybox'));
});

test.run();
