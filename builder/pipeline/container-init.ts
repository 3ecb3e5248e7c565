// The initramfs every `container` microVM starts with: static busybox and rootfs/container/overlay/init, nothing else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compress } from '../archive/compress.ts';
import { writeCpioNewc } from '../archive/cpio.ts';
import { FileTree } from '../rootfs/tree.ts';
import { repoRoot } from './sources.ts';

// Where the host image carries it, and the init it is made from (relative to the repository).
export const CONTAINER_INITRD = '/usr/share/mvos/container/initrd';
export const CONTAINER_INIT_SOURCE = 'rootfs/container/overlay/init';

// The container init script as the repository has it.
export function containerInitScript(): Buffer {
  return readFileSync(join(repoRoot, CONTAINER_INIT_SOURCE));
}

// Packs busybox (from the host's own busybox-static) and the init into a gzip'd newc cpio, all times at mtime.
export async function containerInitramfs(busybox: Buffer, mtime: number): Promise<Buffer> {
  const tree = new FileTree();
  tree.mkdirp('bin', { origin: 'container-init' });
  tree.add({
    path: 'bin/busybox',
    type: 'file',
    mode: 0o755,
    uid: 0,
    gid: 0,
    content: busybox,
    origin: 'busybox-static',
  });
  tree.add({
    path: 'init',
    type: 'file',
    mode: 0o755,
    uid: 0,
    gid: 0,
    content: containerInitScript(),
    origin: CONTAINER_INIT_SOURCE,
  });
  return compress(await writeCpioNewc(tree, { mtime }), 'gzip');
}
