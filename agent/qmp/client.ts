// A QMP client: JSON lines over QEMU's unix socket — greeting, capabilities negotiation, commands by id, events.
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

// One asynchronous event QEMU sent (SHUTDOWN, STOP, RESET, GUEST_PANICKED, …).
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

// A command QEMU refused, with QEMU's error class and text.
export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    description: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${description}`);
    this.name = 'QmpError';
  }
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

// A connected, negotiated QMP session; emits 'event' (QmpEvent) and 'close' (once, when QEMU goes away).
export class QmpClient extends EventEmitter {
  readonly version: string;
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private buffer = '';
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    greeting: { QMP?: { version?: { qemu?: { major: number; minor: number; micro: number } } } },
  ) {
    super();
    const v = greeting.QMP?.version?.qemu;
    this.version = v ? `${v.major}.${v.minor}.${v.micro}` : 'unknown';
    socket.on('data', (chunk) => this.receive(chunk.toString('utf8')));
    socket.on('close', () => this.shutdown(new Error('QMP connection closed')));
    socket.on('error', (error) => this.shutdown(error));
  }

  // Connects to the socket (waiting up to timeoutMs for QEMU to create it), reads the greeting and leaves negotiation
  // mode.
  static async connect(path: string, options: { timeoutMs?: number } = {}): Promise<QmpClient> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    for (;;) {
      try {
        const { socket, greeting } = await openSocket(path, Math.max(500, deadline - Date.now()));
        const client = new QmpClient(socket, greeting);
        await client.execute('qmp_capabilities');
        return client;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if ((code === 'ENOENT' || code === 'ECONNREFUSED') && Date.now() < deadline) {
          await sleep(50);
          continue;
        }
        throw error;
      }
    }
  }

  // Runs one command and resolves with its `return` value; rejects with QmpError, or on timeout or a closed connection.
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    options: { timeoutMs?: number } = {},
  ): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`QMP ${command}: the connection is closed`));
    const id = `mvos-${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`QMP ${command}: no answer within ${options.timeoutMs ?? 10_000} ms`));
      }, options.timeoutMs ?? 10_000);
      this.pending.set(id, { command, resolve: resolve as (value: unknown) => void, reject, timer });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  // Whether the connection is gone (QEMU exited or closed it).
  get isClosed(): boolean {
    return this.closed;
  }

  // Closes our end; QEMU keeps running.
  close(): void {
    this.socket.destroy();
    this.shutdown(new Error('QMP connection closed by us'));
  }

  private receive(text: string): void {
    this.buffer += text;
    for (let newline = this.buffer.indexOf('\n'); newline >= 0; newline = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.dispatch(line);
    }
  }

  private dispatch(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof message.event === 'string') {
      this.emit('event', message as unknown as QmpEvent);
      return;
    }
    const pending = typeof message.id === 'string' ? this.pending.get(message.id) : undefined;
    if (!pending) return;
    this.pending.delete(message.id as string);
    clearTimeout(pending.timer);
    const error = message.error as { class?: string; desc?: string } | undefined;
    if (error) pending.reject(new QmpError(pending.command, error.class ?? 'GenericError', error.desc ?? 'failed'));
    else pending.resolve(message.return);
  }

  private shutdown(reason: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new Error(`QMP ${pending.command}: ${reason.message}`));
    }
    this.pending.clear();
    this.emit('close');
  }
}

function openSocket(path: string, timeoutMs: number): Promise<{ socket: Socket; greeting: Record<string, never> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let text = '';
    const timer = setTimeout(() => fail(new Error(`QMP ${path}: no greeting within ${timeoutMs} ms`)), timeoutMs);
    function fail(error: Error): void {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    }
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      try {
        const greeting = JSON.parse(text.slice(0, newline)) as Record<string, never>;
        // Anything after the greeting belongs to the session (nothing, normally).
        if (text.length > newline + 1) queueMicrotask(() => socket.emit('data', Buffer.from(text.slice(newline + 1))));
        resolve({ socket, greeting });
      } catch (error) {
        fail(new Error(`QMP ${path}: the greeting is not JSON: ${(error as Error).message}`));
      }
    };
    socket.on('data', onData);
    socket.once('error', fail);
  });
}
