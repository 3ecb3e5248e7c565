// Watches a VM's two health sources: lines on its virtio-serial health channel and its serial console log.
import { open } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';

// What a line from the guest means for its health; `alive` is the heartbeat a ready guest sends on its channel.
export type HealthSignal = { kind: 'ready'; source: string } | { kind: 'failed'; reason: string } | { kind: 'alive' } | { kind: 'exited'; code: number };

const GUEST_FAILED = 'MVOS-GUEST-FAILED';
const CONTAINER_FAILED = 'MVOS-CONTAINER-FAILED';
const CONTAINER_EXIT = /MVOS-CONTAINER-EXIT (\d+)/;
// The heartbeat line the guest init writes to its health channel every few seconds once it is up.
export const HEARTBEAT = 'MVOS-GUEST-ALIVE';

// Reads one console or channel line: the ready marker, a failure the guest reports, or a kernel panic.
export function classifyLine(line: string, marker: string, source: string): HealthSignal | undefined {
  const text = line.replace(/\r$/, '');
  // A container's own output shares the serial console: its init's verdicts count only from the health channel.
  const channel = source === 'health channel';
  for (const word of channel ? [GUEST_FAILED, CONTAINER_FAILED] : [GUEST_FAILED]) {
    const failed = text.indexOf(word);
    if (failed >= 0) return { kind: 'failed', reason: `the guest reported a failure on its ${source}: ${text.slice(failed + word.length).trim() || 'no detail'}` };
  }
  const exit = channel ? CONTAINER_EXIT.exec(text) : null;
  if (exit) return { kind: 'exited', code: Number(exit[1]) };
  if (/Kernel panic - not syncing/.test(text)) return { kind: 'failed', reason: `guest kernel panic: ${text.replace(/^.*Kernel panic - not syncing:\s*/, '').trim()}` };
  if (text.includes(marker)) return { kind: 'ready', source };
  if (source === 'health channel' && text.includes(HEARTBEAT)) return { kind: 'alive' };
  return undefined;
}

function lines(onLine: (line: string) => void): (chunk: string) => void {
  let partial = '';
  return (chunk) => {
    partial += chunk;
    let newline;
    while ((newline = partial.indexOf('\n')) >= 0) {
      onLine(partial.slice(0, newline));
      partial = partial.slice(newline + 1);
    }
    // A line without its newline yet is kept, but a runaway one is not allowed to grow without bound.
    if (partial.length > 65536) partial = partial.slice(-4096);
  };
}

// A running watch; stop() ends it.
export interface HealthWatch {
  stop(): void;
}

// Follows the serial log from `offset` (polling: the log is a plain file QEMU appends to) and the health socket (reconnecting).
export function watchHealth(options: { serialLog: string; healthSocket: string; marker: string; offset?: number; onSignal: (signal: HealthSignal) => void; onOffset?: (offset: number) => void }): HealthWatch {
  let stopped = false;
  let offset = options.offset ?? 0;
  let socket: Socket | undefined;
  const emit = (source: string) => lines((line) => {
    const signal = classifyLine(line, options.marker, source);
    if (signal && !stopped) options.onSignal(signal);
  });
  const fromSerial = emit('serial console');
  const fromChannel = emit('health channel');

  const poll = async (): Promise<void> => {
    while (!stopped) {
      const handle = await open(options.serialLog, 'r').catch(() => undefined);
      if (handle) {
        try {
          const buffer = Buffer.alloc(65536);
          for (;;) {
            const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
            if (bytesRead === 0) break;
            offset += bytesRead;
            fromSerial(buffer.subarray(0, bytesRead).toString('utf8'));
          }
          options.onOffset?.(offset);
        } finally {
          await handle.close();
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  const attach = (): void => {
    if (stopped) return;
    socket = connect(options.healthSocket);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => fromChannel(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (!stopped) setTimeout(attach, 500);
    });
  };
  void poll();
  attach();
  return {
    stop() {
      stopped = true;
      socket?.destroy();
    },
  };
}
