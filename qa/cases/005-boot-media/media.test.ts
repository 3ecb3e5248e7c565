// Every medium boots the host to agent ready through real firmware, the way a machine would: the hybrid ISO as a CD
// (SeaBIOS and OVMF) and as a USB stick (OVMF), the raw GPT disk as a SATA, virtio-blk and NVMe disk and as a USB stick
// (SeaBIOS and OVMF each).

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BootFirmware, BootMedia } from '../../../common/qemu/media.ts';
import { buildHostImage } from '../../lib/host-image.ts';
import { AGENT_READY, bootMedium } from '../../lib/media-boot.ts';

const cases: Array<[file: 'iso' | 'raw', firmware: BootFirmware, media: BootMedia]> = [
  ['iso', 'bios', 'cd'],
  ['iso', 'uefi', 'cd'],
  ['iso', 'uefi', 'usb'],
  ['raw', 'bios', 'disk'],
  ['raw', 'uefi', 'disk'],
  ['raw', 'bios', 'virtio'],
  ['raw', 'uefi', 'virtio'],
  ['raw', 'bios', 'nvme'],
  ['raw', 'uefi', 'nvme'],
  ['raw', 'bios', 'usb'],
  ['raw', 'uefi', 'usb'],
];

const only = process.env.MVOS_MEDIA_CASES?.split(',');
for (const [file, firmware, media] of cases) {
  const name = `${file}-${firmware}-${media}`;
  if (only && !only.includes(name)) continue;
  test(`${file} via ${firmware === 'bios' ? 'SeaBIOS' : 'OVMF'} as ${{ cd: 'a CD', usb: 'a USB stick', disk: 'a SATA disk', virtio: 'a virtio disk', nvme: 'an NVMe disk' }[media]}: boot to MVOS-AGENT-READY`, async () => {
    const image = buildHostImage();
    const result = await bootMedium({
      name: `005-${name}`,
      file: join(image.dir, `multiverse-host.${file}`),
      firmware,
      media,
      marker: AGENT_READY,
    });
    assert.match(result.log, /mvos: booting multiverse-host/, 'GRUB booted the host entry');
    console.log(`  ${name}: agent ready ${(result.ms / 1000).toFixed(1)} s after QEMU started (${result.accel})`);
  });
}

test.run();
