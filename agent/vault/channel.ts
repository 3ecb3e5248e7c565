// A VM's secrets channel: a virtio-serial port of its own (org.mvos.secrets), whose host end is a unix socket only the
// agent opens. Only that VM's guest can write to it, so whoever asks on it is that VM: no network, no address to
// spoof, nothing another VM can reach. One line a request, `GET NAME`; one line an answer, `OK <base64>` or
// `NO <reason>`. The guest is hostile until bounded: lines are short, answers are counted by the vault.
import { connect, type Socket } from 'node:net';

// The longest request line; anything longer is dropped whole and answered NO.
const MAX_LINE = 128;
// How soon the agent connects again after QEMU closed the socket (the VM restarted its port, or QEMU is going).
const RECONNECT_MS = 500;

// What the channel asks of the vault for its VM.
export type SecretSource = (name: string) => { ok: true; secret: string } | { ok: false; reason: string };

// The answer line to one request line.
export function answerLine(line: string, source: SecretSource): string {
  const match = /^GET ([a-z0-9][a-z0-9._-]{0,63})$/.exec(line.replace(/\r$/, ''));
  if (!match) return 'NO requests are GET NAME';
  const answer = source(match[1]!);
  return answer.ok ? `OK ${Buffer.from(answer.secret, 'utf8').toString('base64')}` : `NO ${answer.reason}`;
}

// Serves the channel at `socketPath` until stop(); reconnects while QEMU lives.
export function serveSecrets(socketPath: string, source: SecretSource): { stop(): void } {
  let stopped = false;
  let socket: Socket | undefined;
  const attach = (): void => {
    if (stopped) return;
    const current = connect(socketPath);
    socket = current;
    let partial = '';
    let overlong = false;
    current.setEncoding('utf8');
    current.on('data', (chunk: string) => {
      partial += chunk;
      for (let newline = partial.indexOf('\n'); newline >= 0; newline = partial.indexOf('\n')) {
        const line = partial.slice(0, newline);
        partial = partial.slice(newline + 1);
        current.write(
          `${overlong || line.length > MAX_LINE ? 'NO the request is too long' : answerLine(line, source)}\n`,
        );
        overlong = false;
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
