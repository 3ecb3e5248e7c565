// One console broker per VM: any number of sessions get the output (scrollback, then live), one at a time holds the
// keyboard and its input goes to QEMU's console socket. Opens, closes and takeovers are audited; keystrokes never are.
import { createConnection, type Socket } from 'node:net';
import { type KeyboardState, MAX_CONSOLE_INPUT_BYTES } from '../../common/api-types.ts';
import { SerialQueue } from '../../common/serial-queue.ts';
import { ControlError } from '../controls.ts';

// Who opens a console session and where their audit lines go (the door's own audit log).
export interface ConsoleViewer {
  who: string;
  source: string;
  audit: (entry: {
    who: string;
    source: string;
    action: string;
    result: 'ok' | 'refused' | 'error';
    target?: string;
    reason?: string;
  }) => void;
}

// One person's view of a VM's console.
export interface ConsoleSession {
  readonly vm: string;
  readonly id: string;
  readonly who: string;
  // Whether this session holds the keyboard now.
  readonly writer: boolean;
  // Who holds the keyboard now (this session or another), if anyone.
  readonly holder: string | undefined;
  // Output in stream order: the scrollback asked for at open, then live; one listener per session.
  onData(listener: (chunk: Buffer) => void): void;
  // Called whenever the keyboard changes hands (taken, taken over, let go).
  onKeyboard(listener: (state: KeyboardState) => void): void;
  // Takes the keyboard; while another session holds it only with `force` (that one is told it lost it).
  takeKeyboard(force?: boolean): void;
  // Sends input to the guest; only the holder may, at most MAX_INPUT_BYTES at a time and within the rate limit.
  write(data: Buffer | string): Promise<void>;
  // Ends the session (lets go of the keyboard and the output); the broker audits it once.
  close(): void;
}

// The input side: QEMU's console socket (or a test's stand-in).
export interface ConsoleInput {
  write(data: Buffer): void;
  // Bytes accepted but not yet sent: the backlog a guest that does not read leaves behind.
  pending(): number;
  close(): void;
  onClose(listener: () => void): void;
}

// Where a broker gets the output and the input from.
export interface ConsolePorts {
  // Output from `back` bytes before now, then live, in order; returns the stop.
  follow(listener: (chunk: Buffer) => void, back: number): () => void;
  // Connects the input side; rejects when the VM is not running.
  connect(): Promise<ConsoleInput>;
}

// The bounds on input: one write, the bytes per second a holder may type or paste, and the socket's unsent backlog.
export interface InputLimits {
  maxWriteBytes: number;
  bytesPerSecond: number;
  burstBytes: number;
  maxPendingBytes: number;
}

// 4 KiB per write, 32 KiB/s with a 64 KiB burst (a paste of a page goes through, a flood does not), 64 KiB unsent.
export const INPUT_LIMITS: InputLimits = {
  maxWriteBytes: MAX_CONSOLE_INPUT_BYTES,
  bytesPerSecond: 32 * 1024,
  burstBytes: 64 * 1024,
  maxPendingBytes: 64 * 1024,
};

// The most input one write carries (the API's body bound follows it).
export const MAX_INPUT_BYTES = INPUT_LIMITS.maxWriteBytes;

interface Member {
  id: string;
  viewer: ConsoleViewer;
  data?: (chunk: Buffer) => void;
  early: Buffer[];
  keyboard?: (state: KeyboardState) => void;
  stop?: () => void;
  openedAt: number;
}

let sessionCount = 0;

// A VM's broker; the Controls implementation keeps one per VM name.
export class ConsoleBroker {
  private readonly members = new Map<string, Member>();
  private holder: Member | undefined;
  private input: Promise<ConsoleInput> | undefined;
  // Accepted input, sent one write after the other.
  private readonly writing = new SerialQueue();
  private tokens: number;
  private filledAt = Date.now();

  constructor(
    readonly vm: string,
    private readonly ports: ConsolePorts,
    private readonly limits: InputLimits = INPUT_LIMITS,
  ) {
    this.tokens = limits.burstBytes;
  }

  // How many sessions are open (a closed door must leave none).
  get sessions(): number {
    return this.members.size;
  }

  // Who holds the keyboard, if anyone.
  get keyboardHolder(): string | undefined {
    return this.holder?.viewer.who;
  }

  private audit(m: Member, action: string, result: 'ok' | 'refused' | 'error' = 'ok', reason?: string): void {
    try {
      m.viewer.audit({
        who: m.viewer.who,
        source: m.viewer.source,
        action,
        result,
        target: this.vm,
        ...(reason ? { reason } : {}),
      });
    } catch {
      // The audit sink's failure must not end a console.
    }
  }

  // Opens a session with `back` bytes of scrollback; with write it takes the keyboard (refused while held, unless
  // force).
  open(viewer: ConsoleViewer, options: { write?: boolean; force?: boolean; back?: number } = {}): ConsoleSession {
    const m: Member = { id: `c${++sessionCount}-${Date.now().toString(36)}`, viewer, early: [], openedAt: Date.now() };
    if (options.write && this.holder && !options.force) {
      this.audit(m, 'console-open', 'refused', `${this.holder.viewer.who} has the keyboard`);
      throw new ControlError(
        'conflict',
        `${this.holder.viewer.who} has the keyboard of ${this.vm}; take it over with force`,
      );
    }
    this.members.set(m.id, m);
    this.audit(m, 'console-open', 'ok', options.write ? 'with the keyboard' : 'read-only');
    m.stop = this.ports.follow((chunk) => (m.data ? m.data(chunk) : m.early.push(chunk)), options.back ?? 0);
    if (options.write) this.take(m, options.force ?? false);
    const broker = this;
    return {
      vm: this.vm,
      id: m.id,
      who: viewer.who,
      get writer() {
        return broker.holder === m;
      },
      get holder() {
        return broker.holder?.viewer.who;
      },
      onData(listener) {
        m.data = listener;
        for (const chunk of m.early.splice(0)) listener(chunk);
      },
      onKeyboard(listener) {
        m.keyboard = listener;
      },
      takeKeyboard: (force = false) => this.take(m, force),
      write: (data) => this.write(m, typeof data === 'string' ? Buffer.from(data) : data),
      close: () => this.close(m),
    };
  }

  private tell(m: Member, state: KeyboardState): void {
    try {
      m.keyboard?.(state);
    } catch {
      // One session's listener failing does not stop the others hearing.
    }
  }

  private announce(takenFrom?: Member): void {
    const holder = this.holder?.viewer.who;
    for (const m of this.members.values()) {
      this.tell(m, {
        writer: this.holder === m,
        ...(holder ? { holder } : {}),
        ...(m === takenFrom && holder ? { takenBy: holder } : {}),
      });
    }
  }

  private take(m: Member, force: boolean): void {
    if (!this.members.has(m.id)) throw new ControlError('conflict', 'this console session is closed');
    if (this.holder === m) return;
    const previous = this.holder;
    if (previous && !force) {
      this.audit(m, 'console-keyboard', 'refused', `${previous.viewer.who} has the keyboard`);
      throw new ControlError(
        'conflict',
        `${previous.viewer.who} has the keyboard of ${this.vm}; take it over with force`,
      );
    }
    this.holder = m;
    this.audit(
      m,
      previous ? 'console-takeover' : 'console-keyboard',
      'ok',
      previous ? `from ${previous.viewer.who} (${previous.id})` : undefined,
    );
    this.announce(previous);
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(
      this.limits.burstBytes,
      this.tokens + ((now - this.filledAt) / 1000) * this.limits.bytesPerSecond,
    );
    this.filledAt = now;
  }

  private connect(): Promise<ConsoleInput> {
    if (!this.input) {
      const attempt = this.ports.connect().then((input) => {
        input.onClose(() => {
          if (this.input === attempt) this.input = undefined;
        });
        return input;
      });
      // A VM that is not running now may be later: the next write tries again.
      attempt.catch(() => {
        if (this.input === attempt) this.input = undefined;
      });
      this.input = attempt;
    }
    return this.input;
  }

  // The checks are made when the input is given; once accepted it is sent in order, even if the session ends meanwhile
  // (what was typed before `~.` still reaches the guest).
  private write(m: Member, data: Buffer): Promise<void> {
    if (!this.members.has(m.id)) return Promise.reject(new ControlError('conflict', 'this console session is closed'));
    if (this.holder !== m)
      return Promise.reject(
        new ControlError(
          'conflict',
          `this session does not have the keyboard of ${this.vm}${this.holder ? ` (${this.holder.viewer.who} has it)` : ''}`,
        ),
      );
    if (data.length > this.limits.maxWriteBytes)
      return Promise.reject(
        new ControlError(
          'invalid',
          `at most ${this.limits.maxWriteBytes} bytes of input at a time (got ${data.length})`,
        ),
      );
    if (data.length === 0) return Promise.resolve();
    this.refill();
    if (data.length > this.tokens)
      return Promise.reject(
        new ControlError(
          'limited',
          `input to ${this.vm} is limited to ${this.limits.bytesPerSecond} bytes a second; slow down`,
        ),
      );
    this.tokens -= data.length;
    return this.writing.run(async () => {
      let input: ConsoleInput;
      try {
        input = await this.connect();
      } catch (error) {
        throw new ControlError(
          'conflict',
          `${this.vm}'s console takes no input: it is not running (${(error as Error).message})`,
        );
      }
      if (input.pending() + data.length > this.limits.maxPendingBytes)
        throw new ControlError('limited', `${this.vm} is not reading its console; input waits unsent`);
      input.write(data);
    });
  }

  private close(m: Member): void {
    if (!this.members.delete(m.id)) return;
    m.stop?.();
    this.audit(m, 'console-close', 'ok', `after ${Math.round((Date.now() - m.openedAt) / 1000)}s`);
    if (this.holder !== m) return;
    this.holder = undefined;
    this.announce();
    // Nobody types: the socket is let go (QEMU keeps logging; a socket nobody reads would stall the guest's serial
    // port).
    void this.writing.settled().then(() => {
      if (this.holder) return;
      const input = this.input;
      this.input = undefined;
      return input?.then(
        (i) => i.close(),
        () => undefined,
      );
    });
  }
}

// The input side over QEMU's console socket: what QEMU sends there is read and dropped (the output comes from the
// reader, which keeps the scrollback), so the guest's serial port never stalls on it.
export function socketInput(path: string): Promise<ConsoleInput> {
  return new Promise((resolve, reject) => {
    const socket: Socket = createConnection(path);
    const closed: Array<() => void> = [];
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        for (const f of closed.splice(0)) f();
      });
      socket.on('data', () => undefined);
      resolve({
        write: (data) => void socket.write(data),
        pending: () => socket.writableLength,
        close: () => socket.destroy(),
        onClose: (listener) => (socket.destroyed ? listener() : closed.push(listener)),
      });
    });
  });
}
