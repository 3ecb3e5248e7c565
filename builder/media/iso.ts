// The hybrid ISO: El Torito for BIOS (GRUB i386-pc-eltorito) and UEFI (an ESP image), and an MBR + GPT so the same file
// boots from a USB stick too. Laid out like Debian 12's installer ISO; every date, GUID and id fixed from the content.
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { FAT_PACKAGES, makeFat } from './fat.ts';
import { guidFrom } from './gpt.ts';
import { bootFiles, GRUB_CFG_SOURCE, GRUB_PACKAGES, GRUB_PC_DIR, grubImage } from './grub.ts';
import { fatSerial, type MediaInput, mediaTag } from './input.ts';
import type { Medium } from './medium.ts';

// ISO 9660 dates as xorriso takes them: YYYYMMDDhhmmsscc in UTC.
export function isoDate(epoch: number): string {
  return `${new Date(epoch * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}00`;
}

// The volume id: at most 32 characters of A-Z, 0-9 and _.
export function volumeId(input: MediaInput): string {
  return `${input.name
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, '_')
    .slice(0, 23)}_${input.id.slice(0, 8).toUpperCase()}`;
}

// Writes the ISO: its ESP image holds GRUB (which finds the ISO 9660 file system by the tag) or for Secure Boot the
// signed UKI.
export async function writeIso(input: MediaInput): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-iso-'));
  try {
    const tree = join(dir, 'tree');
    const files: Record<string, Buffer> = {
      ...bootFiles(input, false),
      'boot/grub/eltorito.img': await grubImage('i386-pc-eltorito', mediaTag(input)),
    };
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(tree, path)), { recursive: true });
      await writeFile(join(tree, path), content);
      await utimes(join(tree, path), input.sourceDateEpoch, input.sourceDateEpoch);
    }
    // GRUB's early config reads the kernel from the ISO 9660 file system; BIOS boots GRUB from El Torito either way.
    const bootx64 = input.uki ?? (await grubImage('x86_64-efi', mediaTag(input)));
    const efi = await makeFat({
      // As small as what it holds allows: GRUB (about 0.7 MB) and FAT12's own tables (under 8 KiB at this size), with
      // 64 KiB to spare, in 64 KiB steps: a fixed 4 MiB was 3.3 MiB of zeros in every ISO; a signed UKI carries kernel
      // and initramfs, plus room for FAT overhead.
      sizeMiB: input.uki
        ? Math.ceil((bootx64.length * 1.05) / (1 << 20)) + 2
        : Math.ceil((bootx64.length + (64 << 10)) / (64 << 10)) / 16,
      label: 'MVOS-EFI',
      serial: fatSerial(input, 'iso-efi'),
      fat32: false,
      sourceDateEpoch: input.sourceDateEpoch,
      files: { 'EFI/BOOT/BOOTX64.EFI': bootx64 },
    });
    await writeFile(join(dir, 'efi.img'), efi);
    const out = join(dir, 'out.iso');
    const date = isoDate(input.sourceDateEpoch);
    // xorriso derives its GPT partition GUIDs from the disk GUID and takes every other date from these options and
    // SOURCE_DATE_EPOCH.
    await runTool(
      'xorriso',
      [
        '-as',
        'mkisofs',
        '-o',
        out,
        '-iso-level',
        '3',
        // No 300 KiB of trailing zeros (mkisofs's guard against old kernels reading ahead past a CD's last track): the
        // EFI partition follows the file system here, so a read-ahead finds data either way.
        '-no-pad',
        '-R',
        '-V',
        volumeId(input),
        `--modification-date=${date}`,
        '--set_all_file_dates',
        date,
        '--gpt_disk_guid',
        guidFrom(`${input.id}:iso-disk`),
        '--grub2-mbr',
        join(GRUB_PC_DIR, 'boot_hybrid.img'),
        '-partition_offset',
        '16',
        '--mbr-force-bootable',
        '-append_partition',
        '2',
        '0xef',
        join(dir, 'efi.img'),
        '-appended_part_as_gpt',
        '-iso_mbr_part_type',
        'a2a0d0ebe5b9334487c068b6b72699c7',
        '-c',
        'boot/boot.cat',
        '-b',
        'boot/grub/eltorito.img',
        '-no-emul-boot',
        '-boot-load-size',
        '4',
        '-boot-info-table',
        '--grub2-boot-info',
        '-eltorito-alt-boot',
        '-e',
        '--interval:appended_partition_2:all::',
        '-no-emul-boot',
        tree,
      ],
      { env: { SOURCE_DATE_EPOCH: String(input.sourceDateEpoch) } },
    );
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// <name>.iso, for a CD drive or a USB stick.
export const isoMedium: Medium = {
  packages: ['xorriso', ...FAT_PACKAGES, ...GRUB_PACKAGES],
  code: ['builder/media/iso.ts', GRUB_CFG_SOURCE],
  staged: true,
  write: async (input) => ({ [`${input.name}.iso`]: await writeIso(input) }),
};
