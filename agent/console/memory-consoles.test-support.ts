// Console brokers for the Controls test double (output from the double's own text and followers, input to a fake
// guest), and a fake guest behind a real console socket.
import { appendFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import {
  ConsoleBroker,
  type ConsoleInput,
  type ConsoleSession,
  type ConsoleViewer,
  INPUT_LIMITS,
  type InputLimits,
} from './broker.ts';

// What a double tells its brokers: a VM's console text so far, how to follow it, whether it runs, how to print to it.
export interface ConsoleSource {
  text(vm: string): string;
  follow(vm: string, listener: (chunk: Buffer) => void): () => void;
  running(vm: string): boolean;
  emit(vm: string, text: string): void;
}

// A guest answering input: returns what it prints back (echo, command output), or nothing.
export type FakeGuest = (vm: string, data: Buffer) => string | undefined;

// A guest that behaves like a shell on a serial line: echoes what is typed and, on Enter, runs `echo WORDS` (anything
// else is "not found") and prints a prompt.
export function shellGuest(prompt = '# '): FakeGuest {
  const lines = new Map<string, string>();
  return (vm, data) => {
    let out = '';
    for (const ch of data.toString('utf8')) {
      const line = lines.get(vm) ?? '';
      if (ch === '\r' || ch === '\n') {
        lines.set(vm, '');
        const [cmd, ...args] = line.trim().split(/\s+/);
        const reply = cmd === 'echo' ? `${args.join(' ')}\r\n` : cmd ? `sh: ${cmd}: not found\r\n` : '';
        out += `\r\n${reply}${prompt}`;
      } else if (ch === '\x7f') {
        lines.set(vm, line.slice(0, -1));
        out += '\b \b';
      } else {
        lines.set(vm, line + ch);
        out += ch;
      }
    }
    return out;
  };
}

// QEMU's console socket at path with a shell guest behind it, which like QEMU writes its output to the serial log too.
export async function serveShellConsole(
  path: string,
  vm: string,
  serialLog: string,
): Promise<{ server: Server; clients: Socket[] }> {
  const guest = shellGuest();
  const clients: Socket[] = [];
  const server = createServer((socket) => {
    clients.push(socket);
    socket.on('data', (data) => {
      const out = guest(vm, data) ?? '';
      socket.write(out);
      void appendFile(serialLog, out);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { server, clients };
}

// One broker per VM over a double's console; `received` keeps the input each VM got.
export class MemoryConsoles {
  private readonly brokers = new Map<string, ConsoleBroker>();
  readonly received = new Map<string, Buffer[]>();
  guest: FakeGuest = shellGuest();

  constructor(
    private readonly source: ConsoleSource,
    private readonly limits: InputLimits = INPUT_LIMITS,
  ) {}

  // The VM's broker (made on first use).
  broker(vm: string): ConsoleBroker {
    let broker = this.brokers.get(vm);
    if (!broker) {
      broker = new ConsoleBroker(
        vm,
        {
          follow: (listener, back) => {
            const text = Buffer.from(this.source.text(vm));
            if (back > 0 && text.length > 0) listener(text.subarray(Math.max(0, text.length - back)));
            return this.source.follow(vm, listener);
          },
          connect: async () => {
            if (!this.source.running(vm)) throw new Error('connect ENOENT console.sock');
            return this.input(vm);
          },
        },
        this.limits,
      );
      this.brokers.set(vm, broker);
    }
    return broker;
  }

  private input(vm: string): ConsoleInput {
    const closed: Array<() => void> = [];
    return {
      write: (data) => {
        this.received.set(vm, [...(this.received.get(vm) ?? []), data]);
        const answer = this.guest(vm, data);
        if (answer) queueMicrotask(() => this.source.emit(vm, answer));
      },
      pending: () => 0,
      close: () => {
        for (const f of closed.splice(0)) f();
      },
      onClose: (listener) => closed.push(listener),
    };
  }

  // Everything a VM was sent, as text.
  sent(vm: string): string {
    return Buffer.concat(this.received.get(vm) ?? []).toString('latin1');
  }

  open(
    vm: string,
    viewer: ConsoleViewer,
    options?: { write?: boolean; force?: boolean; back?: number },
  ): ConsoleSession {
    return this.broker(vm).open(viewer, options);
  }
}
