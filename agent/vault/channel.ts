// A VM's secrets channel: a virtio-serial port of its own (org.mvos.secrets), whose host end is a unix socket only the
// agent opens. Only that VM's guest can write to it, so whoever asks on it is that VM: no network, no address to
// spoof, nothing another VM can reach. One line a request, one line an answer (`OK <base64>` or `NO <reason>`), in
// order. The guest is hostile until bounded: lines are bounded, and what a request may do is the vault's to decide.
import { connect, type Socket } from 'node:net';

// The longest request line (T share cards of a set of 32 fit); anything longer is dropped whole and answered NO.
const MAX_LINE = 16 * 1024;
// How soon the agent connects again after QEMU closed the socket (the VM restarted its port, or QEMU is going).
const RECONNECT_MS = 500;
// A guest that asks faster than it reads its answers is cut off (the agent reconnects): answers waiting to be made, and
// bytes waiting to go out, are bounded.
const MAX_PENDING_ANSWERS = 16;
const MAX_UNSENT_BYTES = 256 * 1024;

// Answers one request line of the VM (without its newline).
export type ChannelHandler = (line: string) => Promise<string>;

// Serves the channel at `socketPath` until stop(); reconnects while QEMU lives.
export function serveSecrets(socketPath: string, handle: ChannelHandler): { stop(): void } {
  let stopped = false;
  let socket: Socket | undefined;
  const attach = (): void => {
    if (stopped) return;
    const current = connect(socketPath);
    socket = current;
    let partial = '';
    let overlong = false;
    // One request at a time: the answers come back in the order the lines were sent.
    let queue: Promise<unknown> = Promise.resolve();
    let pending = 0;
    const reply = (answer: () => Promise<string>): void => {
      if (pending >= MAX_PENDING_ANSWERS || current.writableLength > MAX_UNSENT_BYTES) {
        current.destroy();
        return;
      }
      pending += 1;
      queue = queue
        .then(answer)
        .then(
          (line) => void (current.destroyed || current.write(`${line}\n`)),
          () => void (current.destroyed || current.write('NO the agent failed to answer\n')),
        )
        .finally(() => {
          pending -= 1;
        });
    };
    current.setEncoding('utf8');
    current.on('data', (chunk: string) => {
      if (current.destroyed) return;
      partial += chunk;
      for (let newline = partial.indexOf('\n'); newline >= 0; newline = partial.indexOf('\n')) {
        const line = partial.slice(0, newline).replace(/\r$/, '');
        partial = partial.slice(newline + 1);
        const tooLong = overlong || line.length > MAX_LINE;
        overlong = false;
        reply(() => (tooLong ? Promise.resolve('NO the request is too long') : handle(line)));
      }
      if (partial.length > MAX_LINE) {
        partial = '';
        overlong = true;
      }
    });
    current.on('error', () => undefined);
    current.on('close', () => {
      if (!stopped) setTimeout(attach, RECONNECT_MS);
    });
  };
  attach();
  return {
    stop() {
      stopped = true;
      socket?.destroy();
    },
  };
}
