// Watches a VM's two health sources: lines on its virtio-serial health channel and its serial console.
import { connect, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { ConsoleFeed } from '../console/reader.ts';

// What a line from the guest means for its health; `alive` is the heartbeat a ready guest sends on its channel.
export type HealthSignal =
  | { kind: 'ready'; source: string }
  | { kind: 'failed'; reason: string }
  | { kind: 'alive' }
  | { kind: 'exited'; code: number };

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
    if (failed >= 0)
      return {
        kind: 'failed',
        reason: `the guest reported a failure on its ${source}: ${text.slice(failed + word.length).trim() || 'no detail'}`,
      };
  }
  const exit = channel ? CONTAINER_EXIT.exec(text) : null;
  if (exit) return { kind: 'exited', code: Number(exit[1]) };
  if (/Kernel panic - not syncing/.test(text))
    return {
      kind: 'failed',
      reason: `guest kernel panic: ${text.replace(/^.*Kernel panic - not syncing:\s*/, '').trim()}`,
    };
  if (text.includes(marker)) return { kind: 'ready', source };
  if (source === 'health channel' && text.includes(HEARTBEAT)) return { kind: 'alive' };
  return undefined;
}

// Splits text into lines; the function returns the bytes of the line still waiting for its newline.
function lines(onLine: (line: string) => void): (chunk: string) => number {
  let partial = '';
  return (chunk) => {
    partial += chunk;
    for (let newline = partial.indexOf('\n'); newline >= 0; newline = partial.indexOf('\n')) {
      onLine(partial.slice(0, newline));
      partial = partial.slice(newline + 1);
    }
    // A line without its newline yet is kept, but a runaway one is not allowed to grow without bound.
    if (partial.length > 65536) partial = partial.slice(-4096);
    return Buffer.byteLength(partial);
  };
}

// A running watch; stop() ends it; send() writes a line to the guest over its health channel (false: not connected).
export interface HealthWatch {
  stop(): void;
  send(line: string): boolean;
}

// Follows the VM's console from stream offset `offset` (a subscriber of its one reader) and the health socket
// (reconnecting).
export function watchHealth(options: {
  console: Pick<ConsoleFeed, 'subscribe'>;
  healthSocket: string;
  marker: string;
  offset?: number;
  onSignal: (signal: HealthSignal) => void;
  onOffset?: (offset: number) => void;
  // Every line from the health channel, for what a guest says besides its health (a router's counters and replies).
  onChannelLine?: (line: string) => void;
}): HealthWatch {
  let stopped = false;
  let socket: Socket | undefined;
  const emit = (source: string) =>
    lines((line) => {
      if (source === 'health channel' && !stopped) options.onChannelLine?.(line.replace(/\r$/, ''));
      const signal = classifyLine(line, options.marker, source);
      if (signal && !stopped) options.onSignal(signal);
    });
  const fromSerial = emit('serial console');
  const fromChannel = emit('health channel');
  // A character split between two chunks stays whole.
  const decoder = new StringDecoder('utf8');
  const unsubscribe = options.console.subscribe(
    (chunk, end) => {
      if (stopped) return;
      const waiting = fromSerial(decoder.write(chunk));
      // The offset saved for a restarted agent is that of the unfinished line, so a marker split by the restart still
      // counts.
      options.onOffset?.(end - waiting);
    },
    { from: options.offset ?? 0 },
  );

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
  attach();
  return {
    stop() {
      stopped = true;
      unsubscribe();
      socket?.destroy();
    },
    send(line) {
      if (stopped || !socket || socket.connecting || socket.destroyed) return false;
      socket.write(`${line}\n`);
      return true;
    },
  };
}
