// One reader per VM console: it moves QEMU's spool into the capped log once and hands each new chunk to every
// subscriber (the health watch, each viewer), so N viewers cost one read of the output; tails are read by seeking.
import { join } from 'node:path';
import { SerialQueue } from '../../common/serial-queue.ts';
import { CappedLog, readRange } from './log.ts';
import { Spool, type SpoolLimits, type SpoolState } from './spool.ts';
import { readConsoleState, writeConsoleState } from './state.ts';

// A VM's console files: QEMU's spool, the agent's capped log (and its `.1`), and where the reader stands.
export interface ConsoleFiles {
  spool: string;
  log: string;
  state: string;
}

// The console files of a VM directory whose QEMU logs its serial port to `serialLog` (VmPaths).
export function consoleFiles(paths: { dir: string; serialLog: string }): ConsoleFiles {
  return { spool: paths.serialLog, log: join(paths.dir, 'console.log'), state: join(paths.dir, 'console.state.json') };
}

// The knobs; they take effect when a VM's reader is first opened.
export interface ConsoleOptions extends Partial<SpoolLimits> {
  // The most each of the log's two files holds.
  capBytes?: number;
  // How often the spool is looked at while nothing arrives.
  pollMs?: number;
  // The most read from the spool in one go (a backlog is taken in steps, so tails and subscriptions wait little).
  chunkBytes?: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

// 16 MiB of scrollback per VM (far more than a viewer is sent) and 1 MiB of spool: a flooding guest holds about 17 MiB.
export const CONSOLE_DEFAULTS: Required<ConsoleOptions> = {
  capBytes: 8 * MiB,
  softBytes: 256 * KiB,
  hardBytes: 1 * MiB,
  idleMs: 250,
  pollMs: 100,
  chunkBytes: 4 * MiB,
};

// Called with each new piece of console output, in stream order; `end` is the stream offset just past it.
export type ConsoleListener = (chunk: Buffer, end: number) => void;

// A handle on a VM's console reader, which runs while any handle is held.
export interface ConsoleFeed {
  // Output from stream offset `from` (what the log still holds of it, then live), or from `back` bytes before the end,
  // or only what comes next when neither is given; returns the unsubscribe.
  subscribe(listener: ConsoleListener, options?: { from?: number; back?: number }): () => void;
  // The last `bytes` of the output (at most, and by default, what the log keeps), read by seeking whatever the files'
  // size.
  tail(bytes?: number): Promise<Buffer>;
  // Lets go of the handle and its subscriptions; resolves once the reader is done with the files (at once while other
  // handles keep it).
  release(): Promise<void>;
}

interface Subscriber {
  listener: ConsoleListener;
  // The stream offset it gets next; -1 until its subscription has been placed.
  pos: number;
}

class ConsoleReader {
  private refs = 0;
  private readonly spool: Spool;
  private readonly log: CappedLog;
  private readonly subscribers = new Set<Subscriber>();
  // Everything that touches the files runs one step after the other.
  private readonly steps = new SerialQueue();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private savedAt = 0;

  constructor(
    private readonly files: ConsoleFiles,
    private readonly options: Required<ConsoleOptions>,
    private readonly forget: (reader: ConsoleReader) => void,
  ) {
    this.spool = new Spool(files.spool, options);
    this.log = new CappedLog(files.log, options.capBytes);
    void this.steps.run(() => this.load());
  }

  acquire(): void {
    this.refs++;
    if (!this.ticking) this.schedule(0);
  }

  release(): Promise<void> {
    if (--this.refs > 0) return Promise.resolve();
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.ticking = false;
    }
    // One last look takes in what the guest printed since the previous one. The reader is forgotten only after the
    // steps already queued, so a new one never works on the files beside it.
    return this.steps.run(async () => {
      if (this.refs > 0) return;
      await this.tick();
      if (this.refs === 0) this.forget(this);
    });
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.ticking = true;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.steps.run(() => this.tick());
    }, ms);
    this.timer.unref();
  }

  private async load(): Promise<void> {
    const saved = await readConsoleState(this.files.state);
    if (!saved) return;
    try {
      await this.log.restore(saved);
      this.spool.id = saved.id;
      this.spool.pos = saved.spool;
    } catch {
      // Files it cannot put back: the next look starts the log over.
    }
  }

  private async save(spool = this.spool.pos): Promise<void> {
    if (this.spool.id === undefined) return;
    this.savedAt = Date.now();
    const { base, base1, end } = this.log.place;
    await writeConsoleState(this.files.state, { id: this.spool.id, spool, base, base1, end });
  }

  // Notices a new QEMU run (a new spool file) and starts the log over for it, as the stream offsets start over.
  private async sync(): Promise<SpoolState | undefined> {
    const now = await this.spool.look();
    if (!now) return undefined;
    if (now.id !== this.spool.id) {
      await this.log.reset();
      this.spool.id = now.id;
      this.spool.pos = 0;
      for (const s of this.subscribers) if (s.pos >= 0) s.pos = 0;
      await this.save();
    } else if (now.size < this.spool.pos) {
      // Emptied before the position was saved (the agent died in between) or by hand: what it holds now is all new.
      this.spool.pos = 0;
    }
    return now;
  }

  private unread(now: SpoolState | undefined): number {
    return now && now.id === this.spool.id ? Math.max(0, now.size - this.spool.pos) : 0;
  }

  private async tick(): Promise<void> {
    let more = false;
    try {
      if (await this.sync()) {
        const chunk = await this.spool.read(this.options.chunkBytes);
        await this.take(chunk, this.spool.pos);
        this.spool.pos += chunk.length;
        more = chunk.length === this.options.chunkBytes;
        const drained = this.spool.empty();
        if (drained) await this.take(drained, undefined);
        // While catching up on a backlog the position is saved once a second (a crash repeats at most that much).
        if (drained || (chunk.length > 0 && (!more || Date.now() - this.savedAt >= 1000))) await this.save();
      }
    } catch {
      // A full disk or a directory gone: the spool keeps the output, the next tick tries again.
    }
    this.ticking = false;
    if (this.refs > 0) this.schedule(more ? 0 : this.options.pollMs);
  }

  // Stores output in the log and hands it to the subscribers; `spoolAt` is where the chunk began in the spool
  // (undefined: drained from a spool since emptied), so that a rotation is saved with the spool position that matches
  // it.
  private async take(chunk: Buffer, spoolAt: number | undefined): Promise<void> {
    if (chunk.length === 0) return;
    const start = this.log.place.end;
    await this.log.append(chunk, () => this.save(spoolAt === undefined ? 0 : spoolAt + (this.log.place.end - start)));
    this.fanOut(chunk, start);
  }

  private deliver(s: Subscriber, piece: Buffer, end: number): void {
    try {
      s.listener(piece, end);
    } catch {
      // A subscriber's failure is its own; the others still get the output.
    }
  }

  private fanOut(chunk: Buffer, start: number): void {
    const end = start + chunk.length;
    for (const s of this.subscribers) {
      if (s.pos < 0 || s.pos >= end) continue;
      const piece = s.pos > start ? chunk.subarray(s.pos - start) : chunk;
      s.pos = end;
      this.deliver(s, piece, end);
    }
  }

  subscribe(listener: ConsoleListener, at: number | undefined, back?: number): Subscriber {
    const s: Subscriber = { listener, pos: -1 };
    this.subscribers.add(s);
    void this.steps
      .run(async () => {
        const now = await this.sync();
        const end = this.log.place.end;
        // The spool's unread bytes come with the next tick, so `back` counts them as already there.
        const from = at ?? (back !== undefined && back > 0 ? Math.max(0, end + this.unread(now) - back) : undefined);
        if (from === undefined) {
          s.pos = end + this.unread(now);
          return;
        }
        // An offset past the end (saved a moment before the reader's own state) skips what the spool gives again.
        s.pos = Math.max(from, this.log.start);
        while (s.pos < end && this.subscribers.has(s)) {
          const piece = await this.log.read(s.pos, Math.min(end, s.pos + this.options.chunkBytes));
          if (piece.length === 0) break;
          s.pos += piece.length;
          this.deliver(s, piece, s.pos);
        }
        s.pos = Math.max(s.pos, end);
      })
      .catch(() => {
        if (s.pos < 0) s.pos = this.log.place.end;
      });
    return s;
  }

  unsubscribe(s: Subscriber): void {
    this.subscribers.delete(s);
  }

  tail(bytes: number | undefined): Promise<Buffer> {
    return this.steps.run(async () => {
      const now = await this.sync();
      const want = Math.max(0, Math.min(bytes ?? Infinity, 2 * this.options.capBytes));
      const unread = this.unread(now);
      const fromSpool = Math.min(unread, want);
      const end = this.log.place.end;
      const logged = await this.log.read(end - (want - fromSpool), end);
      const spooled = await readRange(this.files.spool, this.spool.pos + unread - fromSpool, fromSpool);
      return Buffer.concat([logged, spooled]);
    });
  }
}

const readers = new Map<string, ConsoleReader>();

// A handle on the VM's one console reader (opened with the first handle, closed with the last).
export function openConsole(files: ConsoleFiles, options: ConsoleOptions = {}): ConsoleFeed {
  let reader = readers.get(files.spool);
  if (!reader) {
    reader = new ConsoleReader(files, { ...CONSOLE_DEFAULTS, ...options }, (r) => {
      if (readers.get(files.spool) === r) readers.delete(files.spool);
    });
    readers.set(files.spool, reader);
  }
  const shared = reader;
  shared.acquire();
  const mine = new Set<Subscriber>();
  let released = false;
  return {
    subscribe(listener, options) {
      if (released) throw new Error('openConsole: this console handle was released');
      const s = shared.subscribe(listener, options?.from, options?.back);
      mine.add(s);
      return () => {
        mine.delete(s);
        shared.unsubscribe(s);
      };
    },
    tail: (bytes) => shared.tail(bytes),
    release() {
      if (released) return Promise.resolve();
      released = true;
      for (const s of mine) shared.unsubscribe(s);
      return shared.release();
    },
  };
}
