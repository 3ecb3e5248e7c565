// The A/B slots on a mounted ESP: what each holds, writing one, and how the next boot is chosen: GRUB's environment
// block, rewritten in place (GRUB's save_env writes it by its block list, so it keeps its size and place), or on a
// Secure Boot host the firmware's variables (efi-boot.ts).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncPath } from '../../common/fsync.ts';
import type { PayloadName } from '../../common/update/bundle.ts';
import {
  GRUBENV_BYTES,
  grubEnv,
  parseGrubEnv,
  parseSlotConfig,
  type Slot,
  UKI_PATHS,
} from '../../common/update/slots.ts';

// How a host boots its slots: GRUB (kernel and initrd in boot/<slot>/) or the firmware (a signed UKI a slot).
export type SlotLayout = 'grub' | 'uki';

// The payloads a slot of each layout is written from, in the order they are written (slot.cfg comes last).
export const LAYOUT_PAYLOADS: Readonly<Record<SlotLayout, readonly PayloadName[]>> = {
  grub: ['vmlinuz', 'initrd'],
  uki: ['uki.efi'],
};

// GRUB's variables the agent reads and changes.
export interface BootEnv {
  boot_slot: Slot;
  try_slot: Slot | '';
  boot_tries: string;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// Drops clean cached pages, so a read-back comes from the disk, not from what was just written (root only; elsewhere
// the read-back reads the cache).
async function dropCaches(): Promise<void> {
  await writeFile('/proc/sys/vm/drop_caches', '1').catch(() => undefined);
}

// How the next boot is chosen: read, try a slot once, keep a slot (nothing on trial).
export interface BootSelector {
  read(slots: EspSlots): Promise<BootEnv>;
  tryOnce(slots: EspSlots, slot: Slot): Promise<void>;
  keep(slots: EspSlots, slot: Slot): Promise<void>;
}

// GRUB's environment block chooses.
export const grubSelector: BootSelector = {
  read: async (slots) => (await slots.readEnv()).env,
  tryOnce: (slots, slot) => slots.changeEnv({ try_slot: slot }),
  keep: (slots, slot) => slots.changeEnv({ boot_slot: slot, try_slot: '' }),
};

// One mounted ESP (`device`: the partition it was mounted from, when it was).
export class EspSlots {
  constructor(
    readonly dir: string,
    readonly layout: SlotLayout = 'grub',
    readonly device?: string,
  ) {}

  // Where each of a slot's files lies on the ESP, slot.cfg included.
  private files(slot: Slot): Record<string, string> {
    const payloads: Record<string, string> =
      this.layout === 'uki'
        ? { 'uki.efi': join(this.dir, UKI_PATHS[slot]) }
        : { vmlinuz: join(this.slotDir(slot), 'vmlinuz'), initrd: join(this.slotDir(slot), 'initrd') };
    return { ...payloads, 'slot.cfg': join(this.slotDir(slot), 'slot.cfg') };
  }

  private get envFile(): string {
    return join(this.dir, 'boot/grub/grubenv');
  }

  private slotDir(slot: Slot): string {
    return join(this.dir, 'boot', slot);
  }

  // GRUB's environment: every variable as written, and the ones the agent uses, checked.
  async readEnv(): Promise<{ vars: Record<string, string>; env: BootEnv }> {
    const vars = parseGrubEnv(await readFile(this.envFile));
    const tryable = vars.try_slot === 'a' || vars.try_slot === 'b' ? vars.try_slot : '';
    return {
      vars,
      env: { boot_slot: vars.boot_slot === 'b' ? 'b' : 'a', try_slot: tryable, boot_tries: vars.boot_tries ?? '0' },
    };
  }

  // Changes variables of the environment, written in place over the same 1024 bytes and synced.
  async changeEnv(change: Partial<BootEnv>): Promise<void> {
    const { vars } = await this.readEnv();
    const block = grubEnv({ ...vars, ...change });
    const handle = await open(this.envFile, 'r+');
    try {
      const { size } = await handle.stat();
      if (size !== GRUBENV_BYTES) throw new Error(`grubenv is ${size} bytes, not ${GRUBENV_BYTES}: left as it is`);
      await handle.write(block, 0, block.length, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  // The version a slot holds (undefined: empty, or its slot.cfg is missing or not ours).
  async version(slot: Slot): Promise<string | undefined> {
    const text = await readFile(join(this.slotDir(slot), 'slot.cfg'), 'latin1').catch(() => undefined);
    return text === undefined ? undefined : parseSlotConfig(text)?.version;
  }

  // Bytes free on the ESP, counting what the slot holds now as free (it is overwritten).
  async room(slot: Slot): Promise<number> {
    const fs = await statfs(this.dir);
    let held = 0;
    for (const file of Object.values(this.files(slot))) held += (await stat(file).catch(() => undefined))?.size ?? 0;
    return fs.bavail * fs.bsize + held;
  }

  // Makes the slot unbootable for GRUB (no slot.cfg) before any of its files change. A UKI slot also loses the kernel
  // and initrd the build left there for GRUB: a UKI host never boots them.
  async retire(slot: Slot): Promise<void> {
    await mkdir(this.slotDir(slot), { recursive: true });
    await rm(join(this.slotDir(slot), 'slot.cfg'), { force: true });
    if (this.layout === 'uki')
      for (const name of ['vmlinuz', 'initrd']) await rm(join(this.slotDir(slot), name), { force: true });
    await fsyncPath(this.slotDir(slot));
  }

  // Copies one staged payload into the slot and syncs it.
  async writeFile(slot: Slot, name: PayloadName, source: string): Promise<void> {
    const target = this.files(slot)[name];
    if (!target) throw new Error(`a ${this.layout} slot holds no ${name}`);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(source, target);
    await fsyncPath(target);
  }

  // Writes slot.cfg last: from now on GRUB can boot the slot.
  async writeConfig(slot: Slot, text: string): Promise<void> {
    const target = join(this.slotDir(slot), 'slot.cfg');
    await writeFile(target, text);
    await fsyncPath(target);
    await fsyncPath(this.slotDir(slot));
  }

  // Reads a slot's files back from the disk and names the first whose sha256 is not the expected one.
  async verify(slot: Slot, expected: Record<string, string>): Promise<string | undefined> {
    await dropCaches();
    const files = this.files(slot);
    for (const [name, sha256] of Object.entries(expected)) {
      const file = files[name];
      const got = file ? await sha256File(file).catch(() => 'unreadable') : 'not a file of this slot';
      if (got !== sha256) return `${name} reads back as ${got}, not ${sha256}`;
    }
    return undefined;
  }
}
