// The iso image boots to agent ready through OVMF as a USB stick (usb-ehci + usb-storage): GRUB's menu, then the host entry by default.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { buildHostImage } from '../../lib/host-image.ts';
import { AGENT_READY, bootMedium } from '../../lib/media-boot.ts';

test('iso via OVMF as a USB stick (usb-ehci + usb-storage): boot to MVOS-AGENT-READY', async () => {
  const image = buildHostImage();
  const result = await bootMedium({ name: '005-iso-uefi-usb', file: join(image.dir, 'multiverse-host.iso'), firmware: 'uefi', media: 'usb', marker: AGENT_READY });
  assert.match(result.log, /mvos: booting multiverse-host/, 'GRUB booted the host entry');
  console.log(`  iso-uefi-usb: agent ready ${(result.ms / 1000).toFixed(1)} s after QEMU started (${result.accel})`);
});

test.run();
