// The ESP of the disk the host booted from: where the A/B slots and GRUB's environment are. The agent mounts it
// read-write only while it changes something and unmounts it after, so a power cut mostly finds it clean.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { SerialQueue } from '../../common/serial-queue.ts';
import { EFI_SLOT_ARG, isSlot, parseSlotConfig, SLOTS, type Slot } from '../../common/update/slots.ts';

// The ESP's volume label on raw and qcow2 media (builder/media/raw.ts writes it).
export const ESP_LABEL = 'MVOS-ESP';

// Where the ESP comes from: mounted by label on the host, a plain folder in tests.
export interface EspSource {
  // One user at a time: the second waits for the first to release. `device`: the partition mounted, when one was.
  use<T>(work: (dir: string, device?: string) => Promise<T>): Promise<T>;
}

// A folder standing in for the ESP (tests, `--esp-dir`).
export function folderEsp(dir: string): EspSource {
  const queue = new SerialQueue();
  return { use: (work) => queue.run(() => work(dir)) };
}

// The devices whose file system carries `label`, from blkid's lines (`/dev/sda2: LABEL="MVOS-ESP" UUID=… TYPE="vfat"`).
export function labelledDevices(blkid: string, label: string): string[] {
  return blkid.split('\n').flatMap((line) => {
    const match = /^(\/dev\/[^:\s]+):.*\bLABEL="([^"]*)"/.exec(line);
    return match && match[2] === label ? [match[1]!] : [];
  });
}

// Whether a mounted ESP is the one this boot came from: its medium tag names this host, and the booted slot (either
// slot on a UKI host, where the firmware chose) holds the running version (another Multiverse stick in the machine, for
// another host or another version, is never written).
export async function isBootedEsp(
  dir: string,
  host: string,
  booted: Slot | undefined,
  version: string,
): Promise<boolean> {
  const tags = await readdir(join(dir, 'mvos')).catch(() => [] as string[]);
  if (!tags.some((tag) => tag.startsWith(`${host}-`))) return false;
  for (const slot of booted ? [booted] : SLOTS) {
    const cfg = await readFile(join(dir, 'boot', slot, 'slot.cfg'), 'latin1').catch(() => '');
    if (parseSlotConfig(cfg)?.version === version) return true;
  }
  return false;
}

// The partition labelled MVOS-ESP that `ours` recognises as the booted one, mounted under runDir for each use (vfat,
// no exec, no device files); every partition with the label is looked at, in blkid's order.
export function labelledEsp(runDir: string, ours: (dir: string) => Promise<boolean>, label = ESP_LABEL): EspSource {
  const queue = new SerialQueue();
  const dir = join(runDir, 'esp-update');
  return {
    use: (work) =>
      queue.run(async () => {
        const listed = await runTool('blkid', []).catch(() => undefined);
        const devices = labelledDevices(listed?.stdout ?? '', label);
        if (devices.length === 0) {
          const found = (await runTool('findfs', [`LABEL=${label}`]).catch(() => undefined))?.stdout.trim();
          if (found) devices.push(found);
        }
        if (devices.length === 0)
          throw new Error(`no partition labelled ${label} (this host did not boot from a raw or qcow2 disk)`);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        for (const device of devices) {
          await runTool('mount', ['-t', 'vfat', '-o', 'rw,noatime,nosuid,nodev,noexec', device, dir]);
          try {
            if (await ours(dir)) return await work(dir, device);
          } finally {
            await runTool('umount', [dir]).catch(() => runTool('umount', ['-l', dir]));
          }
        }
        throw new Error(
          `none of the partitions labelled ${label} (${devices.join(', ')}) is the one this host booted from`,
        );
      }),
  };
}

// The slot GRUB booted, from `mvos.slot=` on the kernel command line, or `efi` on a Secure Boot host's UKI (the
// firmware chose; absent: media without slots, an ISO).
export async function bootedSlot(cmdlineFile = '/proc/cmdline'): Promise<Slot | typeof EFI_SLOT_ARG | undefined> {
  const text = await readFile(cmdlineFile, 'utf8').catch(() => '');
  const value = / mvos\.slot=(\S+)/.exec(` ${text.trim()}`)?.[1];
  return isSlot(value) || value === EFI_SLOT_ARG ? value : undefined;
}
