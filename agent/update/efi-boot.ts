// The A/B slots of a Secure Boot host, chosen by the firmware: each slot's signed UKI has a Boot#### option of its own
// (created on the first update), BootNext names the slot on trial (the firmware deletes BootNext before it boots it, so
// the try happens once, and a UKI it refuses, signed with a key outside db, falls through to BootOrder), and the gate
// keeps a slot by putting its option first in BootOrder. The variables are read and written through efivarfs.
import { open, readdir, readFile, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GUIDS, readGuid } from '../../common/efi/guid.ts';
import {
  encodeLoadOption,
  type GptPartition,
  type LoadOption,
  parseLoadOption,
  partitionFilePath,
} from '../../common/efi/load-option.ts';
import { otherSlot, SLOTS, type Slot, UKI_PATHS } from '../../common/update/slots.ts';
import type { BootEnv, BootSelector, EspSlots } from './esp-slots.ts';

// Where the kernel shows the firmware's variables.
export const EFIVARS_DIR = '/sys/firmware/efi/efivars';
// Non-volatile, boot-service and runtime access: what Boot####, BootOrder and BootNext carry.
const NV_BS_RT = 7;
// More Boot#### options than any firmware keeps; a store claiming more is not read further.
const MAX_OPTIONS = 256;

// Boot#### for a number.
function optionName(number: number): string {
  return `Boot${number.toString(16).toUpperCase().padStart(4, '0')}`;
}

// The EFI global variables, as efivarfs files (4 bytes of attributes, then the data).
export class EfiVars {
  constructor(readonly dir = EFIVARS_DIR) {}

  private file(name: string): string {
    return join(this.dir, `${name}-${GUIDS.globalVariable}`);
  }

  // A variable's data (undefined: not set).
  async read(name: string): Promise<Buffer | undefined> {
    const raw = await readFile(this.file(name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    return raw && raw.length >= 4 ? raw.subarray(4) : undefined;
  }

  // Sets a variable: efivarfs takes the attributes and the data in one write.
  async write(name: string, data: Buffer): Promise<void> {
    const payload = Buffer.alloc(4 + data.length);
    payload.writeUInt32LE(NV_BS_RT, 0);
    data.copy(payload, 4);
    // An existing variable is rewritten without O_TRUNC, which efivarfs need not support.
    const handle = await open(this.file(name), 'r+').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return open(this.file(name), 'wx', 0o644);
      throw error;
    });
    try {
      const { bytesWritten } = await handle.write(payload, 0, payload.length, 0);
      if (bytesWritten !== payload.length) throw new Error(`${name}: the firmware took ${bytesWritten} bytes`);
    } finally {
      await handle.close();
    }
  }

  // BootOrder's option numbers.
  async bootOrder(): Promise<number[]> {
    const data = (await this.read('BootOrder')) ?? Buffer.alloc(0);
    const order: number[] = [];
    for (let i = 0; i + 1 < data.length; i += 2) order.push(data.readUInt16LE(i));
    return order;
  }

  // Sets BootOrder.
  async setBootOrder(order: number[]): Promise<void> {
    const data = Buffer.alloc(order.length * 2);
    for (const [i, n] of order.entries()) data.writeUInt16LE(n, i * 2);
    await this.write('BootOrder', data);
  }

  // The option number BootNext names (undefined: none).
  async bootNext(): Promise<number | undefined> {
    const data = await this.read('BootNext');
    return data && data.length === 2 ? data.readUInt16LE(0) : undefined;
  }

  // Sets BootNext.
  async setBootNext(option: number): Promise<void> {
    const data = Buffer.alloc(2);
    data.writeUInt16LE(option, 0);
    await this.write('BootNext', data);
  }

  // The numbers of every Boot#### variable, whatever it holds.
  async optionNumbers(): Promise<number[]> {
    const suffix = `-${GUIDS.globalVariable}`;
    return (await readdir(this.dir))
      .filter((n) => /^Boot[0-9A-F]{4}-/.test(n) && n.endsWith(suffix))
      .map((n) => parseInt(n.slice(4, 8), 16))
      .sort((x, y) => x - y);
  }

  // Every Boot#### option that parses, by number (one that does not is never ours, and is left alone); `numbers`: the
  // variables' numbers when the caller listed them already.
  async options(numbers?: number[]): Promise<Map<number, LoadOption>> {
    const out = new Map<number, LoadOption>();
    for (const number of (numbers ?? (await this.optionNumbers())).slice(0, MAX_OPTIONS)) {
      const data = await this.read(optionName(number));
      if (!data) continue;
      try {
        out.set(number, parseLoadOption(data));
      } catch {
        // Not a load option.
      }
    }
    return out;
  }

  // Writes Boot#### (`number` in 0..0xffff).
  async setOption(number: number, option: Buffer): Promise<void> {
    await this.write(optionName(number), option);
  }
}

// The partition the ESP is on (the device it is mounted from), for the options' device paths.
export type PartitionOf = (device: string | undefined) => Promise<GptPartition>;

// A partition's number and place from sysfs (`start` and `size` there count 512-byte sectors; the device path counts the
// disk's logical blocks) and its GUID from the disk's GPT (the kernel does not show it), read through `dev`.
export async function sysfsPartition(
  device: string | undefined,
  sys = '/sys/class/block',
  dev = '/dev',
): Promise<GptPartition> {
  if (!device) throw new Error('the ESP was not mounted from a device');
  const name = basename(device);
  const read = (file: string) => readFile(join(sys, name, file), 'utf8').then((s) => s.trim());
  // The partition's folder lies in its disk's, which has the logical block size.
  const diskDir = dirname(await realpath(join(sys, name)));
  const block = Number(await readFile(join(diskDir, 'queue/logical_block_size'), 'utf8').catch(() => '512')) || 512;
  const sectors = (n: string) => (Number(n) * 512) / block;
  const number = Number(await read('partition'));
  return {
    number,
    start: sectors(await read('start')),
    size: sectors(await read('size')),
    guid: await gptPartitionGuid(join(dev, basename(diskDir)), number, block),
  };
}

// The unique GUID of partition `number` (from 1) in the primary GPT of `disk`.
export async function gptPartitionGuid(disk: string, number: number, block: number): Promise<string> {
  const handle = await open(disk, 'r');
  try {
    const header = Buffer.alloc(92);
    await handle.read(header, 0, 92, block);
    if (header.toString('latin1', 0, 8) !== 'EFI PART') throw new Error(`${disk} has no GPT`);
    const entries = Number(header.readBigUInt64LE(72));
    const count = header.readUInt32LE(80);
    const size = header.readUInt32LE(84);
    if (number < 1 || number > count || size < 128 || size > 4096)
      throw new Error(`${disk}: partition ${number} is not in its GPT`);
    const entry = Buffer.alloc(32);
    await handle.read(entry, 0, 32, entries * block + (number - 1) * size);
    if (entry.subarray(0, 16).equals(Buffer.alloc(16))) throw new Error(`${disk}: GPT entry ${number} is empty`);
    return readGuid(entry, 16);
  } finally {
    await handle.close();
  }
}

// The BootSelector of a UKI host: Boot#### options named for the host and slot, BootNext and BootOrder.
export class UefiBoot implements BootSelector {
  constructor(
    private readonly vars: EfiVars,
    private readonly host: string,
    private readonly partitionOf: PartitionOf,
  ) {}

  private async paths(slots: EspSlots): Promise<Record<Slot, Buffer>> {
    const partition = await this.partitionOf(slots.device);
    return {
      a: partitionFilePath(partition, `\\${UKI_PATHS.a.replaceAll('/', '\\')}`),
      b: partitionFilePath(partition, `\\${UKI_PATHS.b.replaceAll('/', '\\')}`),
    };
  }

  // The options that boot each slot's file on this ESP (the first found, by number).
  private async found(
    slots: EspSlots,
  ): Promise<{ paths: Record<Slot, Buffer>; numbers: Partial<Record<Slot, number>>; used: Set<number> }> {
    const paths = await this.paths(slots);
    const all = await this.vars.optionNumbers();
    const options = await this.vars.options(all);
    const numbers: Partial<Record<Slot, number>> = {};
    for (const [number, option] of [...options].sort((x, y) => x[0] - y[0]))
      for (const slot of SLOTS)
        if (numbers[slot] === undefined && option.active && option.filePathList.equals(paths[slot]))
          numbers[slot] = number;
    return { paths, numbers, used: new Set(all) };
  }

  // Both slots' option numbers, creating the missing ones at the lowest free numbers.
  private async ensure(slots: EspSlots): Promise<Record<Slot, number>> {
    const { paths, numbers, used } = await this.found(slots);
    for (const slot of SLOTS) {
      if (numbers[slot] !== undefined) continue;
      let free = 0;
      while (used.has(free)) free++;
      if (free > 0xffff) throw new Error('no free Boot#### number');
      await this.vars.setOption(
        free,
        encodeLoadOption({
          active: true,
          description: `Multiverse ${this.host} slot ${slot}`,
          filePathList: paths[slot],
        }),
      );
      used.add(free);
      numbers[slot] = free;
    }
    return numbers as Record<Slot, number>;
  }

  // The slot BootOrder boots first (slot a, the removable-media path, when no option of ours is in it) and the one
  // BootNext names.
  async read(slots: EspSlots): Promise<BootEnv> {
    const { numbers } = await this.found(slots);
    const slotOf = (n: number | undefined) => SLOTS.find((slot) => n !== undefined && numbers[slot] === n);
    const order = await this.vars.bootOrder();
    const first = order.map(slotOf).find((slot) => slot !== undefined);
    return { boot_slot: first ?? 'a', try_slot: slotOf(await this.vars.bootNext()) ?? '', boot_tries: '0' };
  }

  // Puts `slot` first in BootOrder, the other slot second, the rest after in their order.
  async keep(slots: EspSlots, slot: Slot): Promise<void> {
    await this.putFirst(await this.ensure(slots), slot);
  }

  private async putFirst(numbers: Record<Slot, number>, slot: Slot): Promise<void> {
    const ours = [numbers[slot], numbers[otherSlot(slot)]];
    const rest = (await this.vars.bootOrder()).filter((n) => !ours.includes(n));
    await this.vars.setBootOrder([...ours, ...rest]);
  }

  // BootNext: the next boot tries `slot` once. The slot that runs now is made first in BootOrder before, so a refused
  // or failed try comes back to it.
  async tryOnce(slots: EspSlots, slot: Slot): Promise<void> {
    const numbers = await this.ensure(slots);
    await this.putFirst(numbers, otherSlot(slot));
    await this.vars.setBootNext(numbers[slot]);
  }
}
