import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileTree, unchangedPaths } from '../rootfs/tree.ts';
import { entry } from '../rootfs/tree-entries.test-support.ts';
import { SEGMENTS, segmentOf, splitTree } from './initramfs.ts';

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

test.run();
