// manifest.json of an image: every input with its hash, every output with its sha256 and size, the build settings.
import { dirname, relative } from 'node:path';
import type { Lockfile } from '../inputs/lockfile.ts';
import type { BuiltImage } from './image.ts';
import type { StageRecord } from './stage.ts';

// Format version of manifest.json.
export const manifestVersion = 1;

// Paths are relative to the top recipe's folder, so the manifest is the same wherever the checkout or the recipe lives.
function imageSummary(image: BuiltImage, base: string): Record<string, unknown> {
  return {
    name: image.recipe.name,
    version: image.recipe.version,
    kind: image.recipe.kind,
    recipe: relative(base, image.recipe.file),
    kernel: { version: image.kernelVersion, vmlinuz: image.vmlinuz, cmdline: image.cmdline },
    initramfs: { sha256: image.initrd, compression: image.recipe.initramfs.compression },
    rootfs: { sha256: image.rootfs, entries: image.rootfsStats.entries, bytes: image.rootfsStats.bytes },
    dropped: image.dropped,
    inputs: image.inputs
      .map((p) => ({ name: p.name, version: p.version, arch: p.arch, sha256: p.sha256, size: p.size, role: p.role }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

// The manifest object; it holds no times but SOURCE_DATE_EPOCH and no absolute paths, so it is the same on every
// machine.
export function buildManifest(options: {
  image: BuiltImage;
  lock: Lockfile;
  lockSha256: string;
  lockPath: string;
  builder: string;
  stages: readonly StageRecord[];
  outputs: ReadonlyArray<{ file: string; sha256: string; size: number }>;
}): Record<string, unknown> {
  const { image } = options;
  const base = dirname(image.recipe.file);
  return {
    manifestVersion,
    image: imageSummary(image, base),
    build: {
      builder: options.builder,
      sourceDateEpoch: options.lock.sourceDateEpoch,
      lockfile: { path: relative(base, options.lockPath), sha256: options.lockSha256 },
      // The release the packages came from (the lockfile holds its archives and keys).
      debian: { suite: options.lock.debian.suite },
      settings: {
        outputs: image.recipe.outputs,
        compression: image.recipe.initramfs.compression,
        arch: image.recipe.arch,
      },
      stages: Object.fromEntries(
        [...options.stages].map((s) => [s.stage, s.key]).sort(([a], [b]) => (a! < b! ? -1 : 1)),
      ),
    },
    boot: { cmdline: image.cmdline },
    vms: image.recipe.vms.map((vm) => {
      const guest = image.guests.find((g) => g.recipe === vm.recipe)!;
      return { name: vm.name, role: vm.role, launch: vm.launch, image: imageSummary(guest, base) };
    }),
    outputs: [...options.outputs].sort((a, b) => (a.file < b.file ? -1 : 1)),
  };
}
