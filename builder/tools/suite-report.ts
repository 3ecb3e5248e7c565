// What an image takes from its recipe's Debian suite rather than from the build machine: the lines `mvos doctor`
// prints for a lockfile.
import type { Lockfile } from '../inputs/lockfile.ts';

// The parts of an image that come from the suite, by the package that carries each.
const SUITE_PARTS: ReadonlyArray<{ part: string; packages: readonly RegExp[] }> = [
  { part: 'host kernel', packages: [/^linux-image-\d.*-amd64$/] },
  { part: 'guest kernel source', packages: [/^linux-source-\d/] },
  { part: 'QEMU', packages: [/^qemu-system-x86$/] },
  { part: 'OVMF', packages: [/^ovmf$/] },
  { part: 'SeaBIOS', packages: [/^seabios$/] },
  { part: 'busybox', packages: [/^busybox-static$/] },
  { part: 'Node runtime', packages: [/^nodejs$/] },
];

// One line per part the lock pins, e.g. "QEMU: qemu-system-x86 1:10.0.13+ds-0+deb13u1".
export function suiteReport(lock: Lockfile, shown: string): string[] {
  const lines = [
    `from Debian ${lock.debian.suite} as ${shown} pins it (not from this machine; its own packages above only build and run the checks):`,
  ];
  for (const { part, packages } of SUITE_PARTS) {
    const name = Object.keys(lock.packages)
      .sort()
      .find((n) => packages.some((p) => p.test(n)));
    if (name) lines.push(`  ${part}: ${name} ${lock.packages[name]!.version}`);
  }
  return lines;
}
