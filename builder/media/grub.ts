// GRUB pieces for the boot media: core images with an embedded early config, the patched MBR code, grub.cfg and
// grubenv.
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { slotConfig } from '../../common/update/slots.ts';
import { repoRoot } from '../pipeline/sources.ts';
import { renderTemplate } from '../recipe/templates.ts';
import { type MediaInput, mediaTag } from './input.ts';

// Where Debian's grub-pc-bin keeps the i386-pc images and modules.
export const GRUB_PC_DIR = '/usr/lib/grub/i386-pc';

// The Debian packages of grub-mkimage and of GRUB's BIOS and UEFI modules.
export const GRUB_PACKAGES = ['grub-common', 'grub-pc-bin', 'grub-efi-amd64-bin'] as const;

// The menu template (repo-relative), rendered per medium.
export const GRUB_CFG_SOURCE = 'rootfs/boot/grub.cfg.hbs';

// Everything grub.cfg does, built in: the media carry no module folder, so a module missing here fails at boot, not
// build.
const MODULES = [
  'normal',
  'configfile',
  'linux',
  'echo',
  'test',
  'search',
  'search_fs_file',
  'part_gpt',
  'part_msdos',
  'fat',
  'iso9660',
  'loadenv',
  'serial',
  'terminal',
  'sleep',
  'true',
  'reboot',
  'halt',
];

// The three GRUB image kinds mvos writes.
export type GrubTarget = 'x86_64-efi' | 'i386-pc' | 'i386-pc-eltorito';

// The early config: find the medium by its tag file (unique per image content) and let normal mode read its grub.cfg.
export function earlyConfig(tag: string): string {
  return `search --no-floppy --set=root --file /${tag}\nset prefix=($root)/boot/grub\n`;
}

// Runs grub-mkimage for one target; the output is the same bytes for the same inputs (checked with GRUB 2.06).
export async function grubImage(target: GrubTarget, tag: string): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-grub-'));
  try {
    await writeFile(join(dir, 'early.cfg'), earlyConfig(tag));
    const extra = target === 'x86_64-efi' ? ['efi_gop'] : ['biosdisk'];
    await runTool('grub-mkimage', [
      '-O',
      target,
      '-o',
      join(dir, 'out'),
      '-p',
      '/boot/grub',
      '-c',
      join(dir, 'early.cfg'),
      ...MODULES,
      ...extra,
    ]);
    return await readFile(join(dir, 'out'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Patches a core.img for a disk where it starts at `lba`: its first sector's blocklist points at the rest (as
// grub-bios-setup does).
export function placeCore(core: Buffer, lba: number): Buffer {
  const out = Buffer.from(core);
  const block = 512 - 12;
  const len = out.readUInt16LE(block + 8);
  if (len !== Math.ceil(core.length / 512) - 1)
    throw new Error(
      `core.img blocklist says ${len} sectors, the image has ${Math.ceil(core.length / 512) - 1} after the first`,
    );
  out.writeBigUInt64LE(BigInt(lba + 1), block);
  return out;
}

// boot.img with the core's sector filled in and the drive check disabled (BIOSes that pass a wrong drive number), as
// grub-bios-setup does for hard disks.
export function mbrBootCode(coreLba: number): Buffer {
  const boot = Buffer.from(readFileSync(join(GRUB_PC_DIR, 'boot.img')));
  boot.writeBigUInt64LE(BigInt(coreLba), 0x5c);
  boot[0x66] = 0x90;
  boot[0x67] = 0x90;
  return boot.subarray(0, 440);
}

// What the menu shows and boots.
export interface MenuValues {
  name: string;
  version: string;
  cmdline: string;
  menuTimeout: number;
  attempts: number;
  // Writable media keep boot_tries in /boot/grub/grubenv; read-only media only offer the rescue entry.
  counting: boolean;
}

// The rescue entry's extra arguments: the host's own rescue system (no agent, a console shell).
export const RESCUE_ARGS = 'mvos.agent=off mvos.shell=1';

// Renders grub.cfg from rootfs/boot/grub.cfg.hbs.
export function grubConfig(values: MenuValues): string {
  const tries = Array.from({ length: values.attempts }, (_, n) => ({ n, next: n + 1 }));
  return renderTemplate(readFileSync(join(repoRoot, GRUB_CFG_SOURCE), 'utf8'), {
    ...values,
    rescueArgs: RESCUE_ARGS,
    tries,
  });
}

// What GRUB boots on every medium: the kernel and the initrd (in slot a on writable media, which count boots and keep
// the other slot for updates), grub.cfg and the tag file its early config searches for.
export function bootFiles(input: MediaInput, counting: boolean): Record<string, Buffer> {
  const kernel: Record<string, Buffer> = counting
    ? {
        'boot/a/vmlinuz': input.vmlinuz,
        'boot/a/initrd': input.initrd,
        'boot/a/slot.cfg': Buffer.from(slotConfig(input.version, input.cmdline)),
      }
    : { 'boot/vmlinuz': input.vmlinuz, 'boot/initrd': input.initrd };
  return {
    ...kernel,
    'boot/grub/grub.cfg': Buffer.from(
      grubConfig({
        name: input.name,
        version: input.version,
        cmdline: input.cmdline,
        menuTimeout: input.boot.menuTimeout,
        attempts: input.boot.attempts,
        counting,
      }),
    ),
    [mediaTag(input)]: Buffer.from(`${input.name} ${input.version}\n`),
  };
}
