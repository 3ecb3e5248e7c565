// The QEMU side of a `container` launch: the unpacked root and the config disk as the container init expects them
// (mvos.root=/dev/vda, mvos.config=/dev/vdb, both read-only virtio-blk in that order) and the marker that ends it.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QemuSpec } from '../../common/qemu/argv.ts';
import type { UnpackedImage } from './oci.ts';
import { configDisk } from './oci-config.ts';

// The console line the container init prints last: the exit code, or why nothing ran.
export const CONTAINER_END = /^MVOS-CONTAINER-(?:EXIT (\d+)|FAILED (.*))$/m;

// The small kernel and the container init's initramfs that every container launch boots.
export interface ContainerBoot {
  kernel: string;
  initrd: string;
  // Kernel arguments before the container's own (console, panic=-1, quiet...).
  cmdline: string;
}

// Writes config.img beside the unpacked root and returns the spec parts that boot it.
export async function containerSpec(
  unpacked: UnpackedImage,
  boot: ContainerBoot,
): Promise<Pick<QemuSpec, 'kernel' | 'initrd' | 'append' | 'drives'>> {
  const config = join(unpacked.rootfs, '..', 'config.img');
  await writeFile(config, configDisk(unpacked.run));
  return {
    kernel: boot.kernel,
    initrd: boot.initrd,
    append: `${boot.cmdline} mvos.root=/dev/vda mvos.config=/dev/vdb`.trim(),
    drives: [
      { file: unpacked.rootfs, format: 'raw', interface: 'virtio', readonly: true },
      { file: config, format: 'raw', interface: 'virtio', readonly: true },
    ],
  };
}

// What the console says about how the container ended: its exit code, a failure before it ran, or nothing yet. The
// last such line counts: the container shares the console and may print the same words before the init does.
export function containerEnd(console: string): { exitCode: number } | { failed: string } | undefined {
  const all = [...console.replaceAll('\r', '').matchAll(new RegExp(CONTAINER_END.source, 'gm'))];
  const match = all[all.length - 1];
  if (!match) return undefined;
  return match[1] !== undefined ? { exitCode: Number(match[1]) } : { failed: match[2]!.trim() };
}
