// Boots a built medium (ISO or raw disk) through real firmware, the way a machine would, until a console marker.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type BootFirmware, type BootMedia, bootFirmware, mediaDrive } from '../../common/qemu/media.ts';
import { type BootResult, bootToMarker } from './boot.ts';
import { buildHostImage } from './host-image.ts';

// The marker the host's agent prints when the host is up.
export const AGENT_READY = /MVOS-AGENT-READY multiverse-host \S+ accel=(kvm|tcg)/;

// The console shell banner of the host's rescue entry (init with mvos.agent=off).
export const RESCUE_SHELL = 'console shell (mvos.agent=off)';

// Boots `file` as `media` under `firmware`; `writable` keeps what the guest writes (boot counting), else a snapshot.
export function bootMedium(options: {
  name: string;
  file: string;
  firmware: BootFirmware;
  media: BootMedia;
  marker: string | RegExp;
  timeoutS?: number;
  writable?: boolean;
}): Promise<BootResult> {
  const vars = join(mkdtempSync(join(tmpdir(), 'mvos-qa-vars-')), 'OVMF_VARS.fd');
  return bootToMarker({
    name: options.name,
    firmware: bootFirmware(options.firmware, vars),
    drives: [mediaDrive(options.file, options.media, options.writable)],
    usb: 'ehci',
    marker: options.marker,
    timeoutS: options.timeoutS ?? 240,
    memoryMiB: 2048,
    cpus: 2,
    accel: 'tcg',
  });
}

// One test per [file, firmware, media]: the default host built (or taken from the cache), that medium booted to agent
// ready through GRUB's host entry; MVOS_MEDIA_CASES=iso-bios-cd,... runs only the named ones.
export function mediaBootTests(scenario: string, cases: Array<[file: 'iso' | 'raw', BootFirmware, BootMedia]>): void {
  const only = process.env.MVOS_MEDIA_CASES?.split(',');
  const names = { cd: 'a CD', usb: 'a USB stick', disk: 'a SATA disk', virtio: 'a virtio disk', nvme: 'an NVMe disk' };
  for (const [file, firmware, media] of cases) {
    const name = `${file}-${firmware}-${media}`;
    if (only && !only.includes(name)) continue;
    test(`${file} via ${firmware === 'bios' ? 'SeaBIOS' : 'OVMF'} as ${names[media]}: boot to MVOS-AGENT-READY`, async () => {
      const image = buildHostImage();
      const result = await bootMedium({
        name: `${scenario}-${name}`,
        file: join(image.dir, `multiverse-host.${file}`),
        firmware,
        media,
        marker: AGENT_READY,
      });
      assert.match(result.log, /mvos: booting multiverse-host/, 'GRUB booted the host entry');
      console.log(`  ${name}: agent ready ${(result.ms / 1000).toFixed(1)} s after QEMU started (${result.accel})`);
    });
  }
}
