// `mvos vm console NAME`: a VM's serial console, interactive, over the agent's live console session (SSE out, POSTs
// in). The terminal is raw while it runs and put back however it ends: `~.`, the agent going away, a signal.
import { type ConsoleSessionEvent, type KeyboardState, MAX_CONSOLE_INPUT_BYTES } from '../../../common/api-types.ts';
import { ESCAPE_HELP, EscapeScanner } from '../../../common/console-escape.ts';
import { FailureError } from '../../../common/errors.ts';
import { type AgentClient, refusalMessage } from './vm-client.ts';

// Where the console reads and writes: the process's terminal, or a test's streams.
export interface ConsoleIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream;
}

// The longest prefix of `bytes` of at most `max` bytes that ends on a UTF-8 character boundary.
function utf8Cut(bytes: Buffer, max: number): number {
  if (bytes.length <= max) return bytes.length;
  let cut = max;
  while (cut > 0 && (bytes.readUInt8(cut) & 0xc0) === 0x80) cut--;
  return cut;
}

// Runs the console until `~.` (exit 0) or until the agent ends the stream (exit 1); `force` takes the keyboard over.
export async function runConsole(
  agent: AgentClient,
  vm: string,
  options: { force: boolean; io?: ConsoleIo },
): Promise<number> {
  const io: ConsoleIo = options.io ?? { stdin: process.stdin, stdout: process.stdout };
  const path = `/api/vms/${encodeURIComponent(vm)}/console`;
  const note = (text: string): void => void io.stdout.write(`\r\n[${text}]\r\n`);
  const stop = new AbortController();
  let session: string | undefined;
  let writer = false;
  let holder: string | undefined;
  let raw = false;
  let left = false;
  let pending = Buffer.alloc(0);
  let sending: Promise<void> | undefined;
  const scanner = new EscapeScanner();

  const restore = (): void => {
    if (raw) io.stdin.setRawMode?.(false);
    raw = false;
  };
  // What was typed before `~.` still goes out (for at most two seconds), then the stream ends.
  const leave = (): void => {
    if (left) return;
    left = true;
    const drained = sending ?? Promise.resolve();
    void Promise.race([drained, new Promise((r) => setTimeout(r, 2000))]).then(() => stop.abort());
  };
  const signals: Array<[NodeJS.Signals, () => void]> = (['SIGTERM', 'SIGHUP', 'SIGINT'] as const).map((s) => [
    s,
    leave,
  ]);

  const take = async (force: boolean): Promise<void> => {
    const answer = await agent.attempt('POST', `${path}/keyboard`, { session, force });
    if (answer.status === 200) return;
    const message = refusalMessage(answer) ?? `HTTP ${answer.status}`;
    note(
      answer.status === 409
        ? `read-only: ${message.replace(/; take it over with force$/, '')}; ~! takes it over`
        : message,
    );
  };

  // One input request at a time, in order; what is typed meanwhile waits and goes with the next.
  const pump = (): void => {
    if (sending || !session) return;
    sending = (async () => {
      try {
        while (pending.length > 0 && !stop.signal.aborted) {
          const cut = utf8Cut(pending, MAX_CONSOLE_INPUT_BYTES);
          const answer = await agent.attempt('POST', `${path}/input`, {
            session,
            data: pending.subarray(0, cut).toString('utf8'),
          });
          if (answer.status === 429) {
            await new Promise((r) => setTimeout(r, 250));
            continue;
          }
          pending = pending.subarray(cut);
          if (answer.status !== 200) {
            pending = Buffer.alloc(0);
            note(refusalMessage(answer) ?? `HTTP ${answer.status}`);
          }
        }
      } catch (error) {
        note(`input lost: ${(error as Error).message}`);
        pending = Buffer.alloc(0);
      } finally {
        sending = undefined;
      }
    })();
  };

  const onInput = (chunk: Buffer | string): void => {
    if (left) return;
    for (const action of scanner.feed(Buffer.from(chunk))) {
      if (action.kind === 'leave') {
        leave();
        return;
      }
      if (action.kind === 'help') io.stdout.write(`\r\n${ESCAPE_HELP}`);
      else if (action.kind === 'take') void take(true).catch((error: Error) => note(error.message));
      else if (!writer)
        note(holder ? `read-only: ${holder} has the keyboard; ~! takes it over` : 'read-only: ~! takes the keyboard');
      else {
        pending = Buffer.concat([pending, action.data]);
        pump();
      }
    }
  };

  try {
    const streaming = agent.events(
      `${path}/live`,
      (type, data) => {
        if (type === 'session') {
          const s = data as ConsoleSessionEvent;
          session = s.id;
          holder = s.holder;
          // The login prompts (with --host) are over once the stream is open: only now is the terminal made raw.
          if (io.stdin.isTTY && io.stdin.setRawMode) {
            io.stdin.setRawMode(true);
            raw = true;
          }
          for (const [signal, handler] of signals) process.on(signal, handler);
          io.stdin.on('data', onInput);
          io.stdin.resume();
          io.stdout.write(`[console ${vm}: ~. leaves, ~! takes the keyboard over, ~? lists the escapes]\r\n`);
          void take(options.force).catch((error: Error) => note(error.message));
        } else if (type === 'keyboard') {
          const k = data as KeyboardState;
          const had = writer;
          writer = k.writer;
          holder = k.holder;
          if (k.takenBy) note(`${k.takenBy} took the keyboard; read-only now, ~! takes it back`);
          else if (writer && !had) note('you have the keyboard');
          else if (!holder) note('the keyboard is free; ~! takes it');
        } else if (type === 'message') io.stdout.write(data as string);
      },
      stop.signal,
    );
    await streaming;
  } finally {
    io.stdin.off('data', onInput);
    io.stdin.pause();
    for (const [signal, handler] of signals) process.off(signal, handler);
    restore();
  }
  if (left) {
    io.stdout.write('\r\n[console detached]\r\n');
    return 0;
  }
  io.stdout.write('\r\n');
  throw new FailureError(`the console of ${vm} ended: the connection to the agent was lost`, {
    hint: 'the terminal is restored; run it again once the agent answers',
  });
}
