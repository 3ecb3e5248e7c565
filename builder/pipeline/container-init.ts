// The initramfs every `container` microVM starts with: static busybox and rootfs/container/overlay/init, nothing else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compress } from '../archive/compress.ts';
import { writeCpioNewc } from '../archive/cpio.ts';
import { FileTree, rootFile } from '../rootfs/tree.ts';
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
  tree.add(rootFile('bin/busybox', busybox, 'busybox-static', 0o755));
  tree.add(rootFile('init', containerInitScript(), CONTAINER_INIT_SOURCE, 0o755));
  return compress(await writeCpioNewc(tree, { mtime }), 'gzip');
}
