// The firmware files a build uses, taken from the pinned ovmf and seabios packages (never from the build machine's
// /usr/share).
import { posix } from 'node:path';
import { FailureError } from '../../common/errors.ts';
import { type DebEntry, debDataEntries } from '../inputs/deb.ts';

// Which package carries a firmware file and where (relative to /), by the name the builder uses for it.
export const FIRMWARE_FILES = {
  'ovmf-code': { package: 'ovmf', path: 'usr/share/OVMF/OVMF_CODE_4M.fd' },
  'ovmf-code-secboot': { package: 'ovmf', path: 'usr/share/OVMF/OVMF_CODE_4M.secboot.fd' },
  'ovmf-vars': { package: 'ovmf', path: 'usr/share/OVMF/OVMF_VARS_4M.fd' },
  'ovmf-vars-ms': { package: 'ovmf', path: 'usr/share/OVMF/OVMF_VARS_4M.ms.fd' },
  'ovmf-vars-snakeoil': { package: 'ovmf', path: 'usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd' },
  // The 256 KiB build: QEMU's default for pc and q35, and the one with the debug port (Debian 13 turned it off in the
  // 128 KiB bios.bin to make room).
  seabios: { package: 'seabios', path: 'usr/share/seabios/bios-256k.bin' },
} as const;

// One of the firmware file names above.
export type FirmwareFile = keyof typeof FIRMWARE_FILES;

// The packages the firmware files come from.
export const FIRMWARE_PACKAGES = ['ovmf', 'seabios'] as const;

// The OVMF code file a firmware type boots with: Secure Boot needs the SMM build that enforces signatures.
export function ovmfCodeFile(type: 'ovmf' | 'ovmf-secureboot'): FirmwareFile {
  return type === 'ovmf-secureboot' ? 'ovmf-code-secboot' : 'ovmf-code';
}

// A regular file of a package's data archive, following symlinks inside the package (OVMF_CODE_4M.ms.fd is one).
function resolveEntry(entries: Map<string, DebEntry>, path: string, label: string): Buffer {
  let current = path;
  for (let hops = 0; hops < 8; hops++) {
    const entry = entries.get(current);
    if (!entry) break;
    if (entry.header.type === 'file') return entry.content;
    if (entry.header.type !== 'symlink' || !entry.header.linkname) break;
    const link = entry.header.linkname;
    current = link.startsWith('/') ? link.slice(1) : posix.normalize(posix.join(posix.dirname(current), link));
  }
  throw new FailureError(`${label} has no file /${path}`, {
    hint: 'the pinned package no longer ships this firmware file; pin a version that does (`mvos lock --update`)',
  });
}

// Extracts every firmware file from the two package files (their bytes, already checked against the lock by the cache).
export async function extractFirmware(
  debs: Record<(typeof FIRMWARE_PACKAGES)[number], { deb: Buffer; label: string }>,
): Promise<Record<FirmwareFile, Buffer>> {
  const out = {} as Record<FirmwareFile, Buffer>;
  for (const pkg of FIRMWARE_PACKAGES) {
    const { deb, label } = debs[pkg];
    const entries = new Map<string, DebEntry>();
    for await (const entry of debDataEntries(deb, label)) entries.set(entry.header.name, entry);
    for (const [name, file] of Object.entries(FIRMWARE_FILES) as [
      FirmwareFile,
      (typeof FIRMWARE_FILES)[FirmwareFile],
    ][]) {
      if (file.package === pkg) out[name] = resolveEntry(entries, file.path, label);
    }
  }
  return out;
}
