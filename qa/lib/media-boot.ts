// Boots a built medium (ISO or raw disk) through real firmware, the way a machine would, until a console marker.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BootFirmware, type BootMedia, bootFirmware, mediaDrive } from '../../common/qemu/media.ts';
import { type BootResult, bootToMarker } from './boot.ts';

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
