// The raw image boots to agent ready through SeaBIOS as a disk: GRUB's menu, then the host entry by default.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { buildHostImage } from '../../lib/host-image.ts';
import { AGENT_READY, bootMedium } from '../../lib/media-boot.ts';

test('raw via SeaBIOS as a disk: boot to MVOS-AGENT-READY', async () => {
  const image = buildHostImage();
  const result = await bootMedium({ name: '005-raw-bios-disk', file: join(image.dir, 'multiverse-host.raw'), firmware: 'bios', media: 'disk', marker: AGENT_READY });
  assert.match(result.log, /mvos: booting multiverse-host/, 'GRUB booted the host entry');
  console.log(`  raw-bios-disk: agent ready ${(result.ms / 1000).toFixed(1)} s after QEMU started (${result.accel})`);
});

test.run();
