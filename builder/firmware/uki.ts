// Unified kernel images: systemd's EFI stub with .osrel, .cmdline, .linux and .initrd sections (objcopy), signed with
// sbsign.

import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { pinSigningTime, setPeChecksum } from './authenticode.ts';

// The stub Debian's systemd-boot-efi ships for x86-64.
export const DEFAULT_STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';

// What goes into a UKI.
export interface UkiParts {
  kernel: string;
  initrd?: string;
  cmdline: string;
  osRelease?: string;
  stub?: string;
}

// One section a UKI adds: its name, the file holding it and where it is mapped.
export interface UkiSection {
  name: string;
  file: string;
  vma: number;
}

// The section table of a PE file as `objdump -h` prints it.
export async function peSections(
  file: string,
): Promise<{ name: string; size: number; vma: number; fileOffset: number }[]> {
  const { stdout } = await runTool('objdump', ['-h', file]);
  const out: { name: string; size: number; vma: number; fileOffset: number }[] = [];
  for (const m of stdout.matchAll(/^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s/gm)) {
    out.push({ name: m[1]!, size: parseInt(m[2]!, 16), vma: parseInt(m[3]!, 16), fileOffset: parseInt(m[4]!, 16) });
  }
  return out;
}

// Places the added sections one after another past the stub's last section, each on a 64 KiB boundary (≥ the 4 KiB PE
// section alignment).
export function layoutSections(stubEnd: number, parts: { name: string; file: string; size: number }[]): UkiSection[] {
  const align = (n: number) => Math.ceil(n / 0x10000) * 0x10000;
  let next = align(stubEnd);
  return parts.map((p) => {
    const section = { name: p.name, file: p.file, vma: next };
    next = align(next + p.size);
    return section;
  });
}

// Zeroes the PE TimeDateStamp objcopy sets to the current time and recomputes the PE checksum, so a UKI depends only on
// its parts.
export function normalizePe(pe: Buffer): Buffer {
  const header = pe.readUInt32LE(0x3c);
  if (pe.toString('latin1', header, header + 4) !== 'PE\0\0') throw new Error('not a PE file');
  pe.writeUInt32LE(0, header + 8);
  return setPeChecksum(pe);
}

// Assembles an unsigned UKI at `out`.
export async function buildUki(parts: UkiParts, out: string): Promise<UkiSection[]> {
  const stub = parts.stub ?? DEFAULT_STUB;
  const work = await mkdtemp(join(tmpdir(), 'mvos-uki-'));
  try {
    const osrel = join(work, 'os-release');
    const cmdline = join(work, 'cmdline');
    await writeFile(osrel, parts.osRelease ?? 'ID=multiverse\nNAME="Multiverse"\n');
    await writeFile(cmdline, `${parts.cmdline}\0`);
    const files = [
      { name: '.osrel', file: osrel },
      { name: '.cmdline', file: cmdline },
      { name: '.linux', file: parts.kernel },
      ...(parts.initrd ? [{ name: '.initrd', file: parts.initrd }] : []),
    ].map((p) => ({ ...p, size: statSync(p.file).size }));
    const stubEnd = Math.max(...(await peSections(stub)).map((s) => s.vma + s.size));
    const sections = layoutSections(stubEnd, files);
    const args: string[] = [];
    for (const s of sections)
      args.push('--add-section', `${s.name}=${s.file}`, '--change-section-vma', `${s.name}=0x${s.vma.toString(16)}`);
    await runTool('objcopy', [...args, stub, out]);
    await writeFile(out, normalizePe(await readFile(out)));
    return sections;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// Signs a PE image with sbsign (key and certificate in PEM); with signingTime the signature claims that time, so it
// repeats byte for byte.
export async function signImage(
  input: string,
  out: string,
  key: string,
  cert: string,
  options: { signingTime?: number } = {},
): Promise<void> {
  await runTool('sbsign', ['--key', key, '--cert', cert, '--output', out, input]);
  if (options.signingTime === undefined) return;
  await writeFile(out, pinSigningTime(await readFile(out), await readFile(key), options.signingTime));
}

// Checks a PE image's signature against a certificate; resolves true when sbverify accepts it.
export async function verifyImage(file: string, cert: string): Promise<boolean> {
  const result = await runTool('sbverify', ['--cert', cert, file], { allowFailure: true });
  return result.exitCode === 0;
}
