// The raw GPT disk: protective MBR with GRUB's boot code, a BIOS boot partition holding core.img, and an ESP with
// everything else.

import { grubEnv } from '../../common/update/slots.ts';
import { FAT_PACKAGES, makeFat } from './fat.ts';
import { GPT_TYPES, guidFrom, SECTOR, writeGpt } from './gpt.ts';
import { bootFiles, GRUB_CFG_SOURCE, GRUB_PACKAGES, grubImage, mbrBootCode, placeCore } from './grub.ts';
import { fatSerial, type MediaInput, mediaTag } from './input.ts';
import type { Medium } from './medium.ts';

const MiB = 1024 * 1024;
const BIOS_BOOT_LBA = 2048;
const ESP_LBA = 4096;

// The ESP's volume label; the host resets boot counting in /boot/grub/grubenv on the partition with this label.
export const ESP_LABEL = 'MVOS-ESP';

// ESP size: the payload (both slots) plus a quarter for FAT overhead, at least FAT32's 33 MiB floor rounded up.
export function espSizeMiB(payloadBytes: number): number {
  return Math.max(64, Math.ceil((payloadBytes * 1.25) / MiB) + 8);
}

// The ESP's files: the UEFI loader (GRUB or the signed UKI), what GRUB boots, and grubenv when boots are counted.
export async function espFiles(input: MediaInput, counting: boolean): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {
    'EFI/BOOT/BOOTX64.EFI': input.uki ?? (await grubImage('x86_64-efi', mediaTag(input))),
    ...bootFiles(input, counting),
  };
  if (counting) files['boot/grub/grubenv'] = grubEnv({ boot_tries: '0', boot_slot: 'a', try_slot: '' });
  return files;
}

// Room on the ESP for the other slot: as much again as slot a's kernel and initrd.
function otherSlotBytes(input: MediaInput): number {
  return input.vmlinuz.length + input.initrd.length;
}

// Writes the disk; no state partition (it goes into the rest of the disk the image is flashed to, see README "Boot
// media").
export async function writeRaw(input: MediaInput): Promise<Buffer> {
  const files = await espFiles(input, true);
  const espMiB = espSizeMiB(Object.values(files).reduce((n, b) => n + b.length, 0) + otherSlotBytes(input));
  const esp = await makeFat({
    sizeMiB: espMiB,
    label: ESP_LABEL,
    serial: fatSerial(input, 'esp'),
    fat32: true,
    sourceDateEpoch: input.sourceDateEpoch,
    files,
  });
  const core = placeCore(await grubImage('i386-pc', mediaTag(input)), BIOS_BOOT_LBA);
  if (core.length > (ESP_LBA - BIOS_BOOT_LBA) * SECTOR)
    throw new Error(`core.img (${core.length} bytes) does not fit the 1 MiB BIOS boot partition`);
  // 2 MiB before the ESP (MBR, GPT, BIOS boot partition), 1 MiB after it for the backup GPT.
  const sectors = ESP_LBA + (espMiB + 1) * (MiB / SECTOR);
  const image = Buffer.alloc(sectors * SECTOR);
  writeGpt(
    {
      sectors,
      guid: guidFrom(`${input.id}:disk`),
      bootCode: mbrBootCode(BIOS_BOOT_LBA),
      partitions: [
        {
          name: 'BIOS boot',
          type: GPT_TYPES.biosBoot,
          guid: guidFrom(`${input.id}:bios-boot`),
          first: BIOS_BOOT_LBA,
          last: ESP_LBA - 1,
        },
        {
          name: ESP_LABEL,
          type: GPT_TYPES.esp,
          guid: guidFrom(`${input.id}:esp`),
          first: ESP_LBA,
          last: ESP_LBA + espMiB * (MiB / SECTOR) - 1,
        },
      ],
    },
    image,
  );
  core.copy(image, BIOS_BOOT_LBA * SECTOR);
  esp.copy(image, ESP_LBA * SECTOR);
  return image;
}

// <name>.raw, for dd to a disk or a VM's disk file.
export const rawMedium: Medium = {
  packages: [...FAT_PACKAGES, ...GRUB_PACKAGES],
  code: ['builder/media/raw.ts', GRUB_CFG_SOURCE],
  staged: true,
  write: async (input) => ({ [`${input.name}.raw`]: await writeRaw(input) }),
};
