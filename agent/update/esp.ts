// The ESP of the disk the host booted from: where the A/B slots and GRUB's environment are. The agent mounts it
// read-write only while it changes something and unmounts it after, so a power cut mostly finds it clean.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { SerialQueue } from '../../common/serial-queue.ts';
import { isSlot, type Slot } from '../../common/update/slots.ts';

// The ESP's volume label on raw and qcow2 media (builder/media/raw.ts writes it).
export const ESP_LABEL = 'MVOS-ESP';

// Where the ESP comes from: mounted by label on the host, a plain folder in tests.
export interface EspSource {
  // One user at a time: the second waits for the first to release.
  use<T>(work: (dir: string) => Promise<T>): Promise<T>;
}

// A folder standing in for the ESP (tests, `--esp-dir`).
export function folderEsp(dir: string): EspSource {
  const queue = new SerialQueue();
  return { use: (work) => queue.run(() => work(dir)) };
}

// The partition labelled MVOS-ESP, mounted under runDir for each use (vfat, no exec, no device files).
export function labelledEsp(runDir: string, label = ESP_LABEL): EspSource {
  const queue = new SerialQueue();
  const dir = join(runDir, 'esp-update');
  return {
    use: (work) =>
      queue.run(async () => {
        const found = await runTool('findfs', [`LABEL=${label}`]).catch(() => undefined);
        const device = found?.stdout.trim();
        if (!device)
          throw new Error(`no partition labelled ${label} (this host did not boot from a raw or qcow2 disk)`);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await runTool('mount', ['-t', 'vfat', '-o', 'rw,noatime,nosuid,nodev,noexec', device, dir]);
        try {
          return await work(dir);
        } finally {
          await runTool('umount', [dir]).catch(() => runTool('umount', ['-l', dir]));
        }
      }),
  };
}

// The slot GRUB booted, from `mvos.slot=` on the kernel command line (absent: media without slots, an ISO).
export async function bootedSlot(cmdlineFile = '/proc/cmdline'): Promise<Slot | undefined> {
  const text = await readFile(cmdlineFile, 'utf8').catch(() => '');
  const value = / mvos\.slot=(\S+)/.exec(` ${text.trim()}`)?.[1];
  return isSlot(value) ? value : undefined;
}
