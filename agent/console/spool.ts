// QEMU's own log of the serial port (the spool): read from where the agent left off, emptied once it has all been read.
// QEMU appends with O_APPEND (logappend=on), so after the agent truncates the file QEMU's next byte lands at its start.
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';

// When the spool is emptied.
export interface SpoolLimits {
  // Past this, once the guest has been quiet for idleMs (nothing is lost in practice).
  softBytes: number;
  // Past this, at once, even while the guest prints on (what it writes in the microseconds of the truncation is lost).
  hardBytes: number;
  idleMs: number;
}

// Which file this is: a new QEMU run starts a new file (the supervisor removes the old one before launch).
function identity(s: Stats): string {
  return `${s.dev}:${s.ino}:${s.birthtimeMs}`;
}

// What the spool holds now, relative to what the agent has read of it.
export interface SpoolState {
  id: string;
  size: number;
}

// One VM's spool file and the agent's read position in it.
export class Spool {
  id: string | undefined;
  pos = 0;
  private lastGrowth = Date.now();

  constructor(
    readonly file: string,
    private readonly limits: SpoolLimits,
  ) {}

  // The file's identity and size; undefined while there is none (between a launch's removal and QEMU creating it).
  async look(): Promise<SpoolState | undefined> {
    const s = await stat(this.file).catch(() => undefined);
    return s && { id: identity(s), size: s.size };
  }

  // Up to `max` bytes from the read position (not consumed: the caller moves `pos` once it has stored them).
  async read(max: number): Promise<Buffer> {
    const handle = await open(this.file, 'r').catch(() => undefined);
    if (!handle) return Buffer.alloc(0);
    try {
      // The file was replaced since the caller looked (a launch): the next look starts the new run.
      const s = await handle.stat();
      if (identity(s) !== this.id) return Buffer.alloc(0);
      const size = s.size;
      const buffer = Buffer.alloc(Math.max(0, Math.min(max, size - this.pos)));
      const { bytesRead } =
        buffer.length > 0 ? await handle.read(buffer, 0, buffer.length, this.pos) : { bytesRead: 0 };
      if (bytesRead > 0) this.lastGrowth = Date.now();
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  // Empties the spool when the limits say so and returns what was still unread in it (undefined: left as it is).
  // Past `hardBytes` it is emptied even while the guest keeps printing: the rest is read and the file truncated at
  // once.
  empty(now = Date.now()): Buffer | undefined {
    if (this.pos < this.limits.softBytes) return undefined;
    let fd: number;
    try {
      fd = openSync(this.file, 'r+');
    } catch {
      return undefined;
    }
    try {
      const s = fstatSync(fd);
      if (identity(s) !== this.id) return undefined;
      const unread = s.size - this.pos;
      // A backlog (output from while the agent was away) is read on asynchronously first.
      if (unread > this.limits.hardBytes) return undefined;
      if (this.pos < this.limits.hardBytes && (unread > 0 || now - this.lastGrowth < this.limits.idleMs))
        return undefined;
      // Synchronous from the last read to the truncation: a byte QEMU writes in between has microseconds to slip in.
      const parts: Buffer[] = [];
      const buffer = Buffer.alloc(Math.max(unread, 0) + 64 * 1024);
      let at = this.pos;
      let filled = 0;
      for (;;) {
        if (filled === buffer.length) {
          parts.push(Buffer.from(buffer));
          filled = 0;
        }
        const n = readSync(fd, buffer, filled, buffer.length - filled, at);
        if (n === 0) break;
        filled += n;
        at += n;
      }
      ftruncateSync(fd, 0);
      this.pos = 0;
      parts.push(buffer.subarray(0, filled));
      return Buffer.concat(parts);
    } finally {
      closeSync(fd);
    }
  }
}
