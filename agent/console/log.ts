// The console log the agent keeps for a VM: a current file and one rotated file, each at most a cap, addressed by
// stream offset.
import { open, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';

// Where the files sit in the VM's console stream (offsets count from the start of the QEMU run).
export interface LogPlace {
  // The offset of the current file's first byte.
  base: number;
  // The offset of the rotated file's first byte; null: there is none from this run.
  base1: number | null;
  // The offset of the next byte.
  end: number;
}

async function size(file: string): Promise<number | undefined> {
  return stat(file).then(
    (s) => s.size,
    () => undefined,
  );
}

// Reads [start, start + length) of a file by seeking; a shorter file gives fewer bytes.
export async function readRange(file: string, start: number, length: number): Promise<Buffer> {
  if (length <= 0) return Buffer.alloc(0);
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return Buffer.alloc(0);
  try {
    const buffer = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await handle.read(buffer, filled, length - filled, start + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

// The two files of one VM's log; appending rotates so that neither ever holds more than `capBytes`.
export class CappedLog {
  place: LogPlace = { base: 0, base1: null, end: 0 };

  constructor(
    readonly file: string,
    readonly capBytes: number,
  ) {
    if (!Number.isInteger(capBytes) || capBytes < 1)
      throw new Error(`CappedLog: capBytes must be a positive integer (got ${capBytes})`);
  }

  get rotated(): string {
    return `${this.file}.1`;
  }

  // The oldest offset the files still hold.
  get start(): number {
    return this.place.base1 ?? this.place.base;
  }

  // Starts an empty log at offset 0 (a new QEMU run).
  async reset(): Promise<void> {
    await writeFile(this.file, '', { mode: 0o600 });
    await rm(this.rotated, { force: true });
    this.place = { base: 0, base1: null, end: 0 };
  }

  // Takes up a place saved before the agent stopped; bytes written after it go (the spool still has them, they come
  // again).
  async restore(saved: LogPlace): Promise<void> {
    const place = { base: saved.base, base1: saved.base1, end: saved.end };
    const current = (await size(this.file)) ?? 0;
    const rotated = await size(this.rotated);
    const expected = place.end - place.base;
    if (current >= expected) {
      if (current > expected) await truncate(this.file, expected);
      this.place = { ...place, base1: rotated === undefined ? null : place.base1 };
    } else if (rotated !== undefined && rotated >= expected) {
      // The agent died in a rotation (the place is saved after each): the rotated file is the saved current one.
      await truncate(this.rotated, expected);
      await writeFile(this.file, '', { mode: 0o600 });
      this.place = { base: place.end, base1: place.base, end: place.end };
    } else {
      // Files changed by hand: they are taken as they are.
      const base = place.end - current;
      this.place = { base, base1: rotated === undefined || rotated > base ? null : base - rotated, end: place.end };
    }
  }

  // Appends one chunk, rotating whenever the current file is full; `rotated` runs after each rotation, before more is
  // written.
  async append(chunk: Buffer, rotated?: () => Promise<void>): Promise<void> {
    let done = 0;
    while (done < chunk.length) {
      const room = this.capBytes - (this.place.end - this.place.base);
      if (room <= 0) {
        await this.rotate();
        await rotated?.();
        continue;
      }
      const piece = chunk.subarray(done, done + room);
      const handle = await open(this.file, 'a', 0o600);
      try {
        await handle.write(piece);
      } finally {
        await handle.close();
      }
      done += piece.length;
      this.place = { ...this.place, end: this.place.end + piece.length };
    }
  }

  private async rotate(): Promise<void> {
    await rename(this.file, this.rotated);
    await writeFile(this.file, '', { mode: 0o600 });
    this.place = { base: this.place.end, base1: this.place.base, end: this.place.end };
  }

  // Bytes [from, to) of the stream, as far as the files still hold them (`from` is raised to the oldest byte kept).
  async read(from: number, to: number): Promise<Buffer> {
    const start = Math.max(from, this.start);
    const stop = Math.min(to, this.place.end);
    if (stop <= start) return Buffer.alloc(0);
    const parts: Buffer[] = [];
    const { base, base1 } = this.place;
    if (base1 !== null && start < base)
      parts.push(await readRange(this.rotated, start - base1, Math.min(stop, base) - start));
    if (stop > base) parts.push(await readRange(this.file, Math.max(start, base) - base, stop - Math.max(start, base)));
    return Buffer.concat(parts);
  }
}
