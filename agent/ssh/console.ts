// `console VM` on a channel with a pty: the scrollback, then live output, and the keyboard when nobody else holds it;
// `~.` leaves, `~!` takes the keyboard over. The bytes go to the guest's serial console, never to a shell on the host.

import { ESCAPE_HELP, EscapeScanner } from '../../common/console-escape.ts';
import type { ConsoleSession, ConsoleViewer } from '../console/broker.ts';
import { ControlError, type Controls } from '../controls.ts';
import type { ServerChannel } from './ssh2.ts';

// Console bytes a new interactive session shows before the live output.
export const CONSOLE_BACK_BYTES = 16 * 1024;

function note(channel: ServerChannel, text: string): void {
  if (!channel.destroyed) channel.write(`\r\n[${text}]\r\n`);
}

// Runs the console until `~.` or the client goes; resolves with the exit status once the channel may be ended.
export function interactiveConsole(
  channel: ServerChannel,
  controls: Controls,
  vm: string,
  viewer: ConsoleViewer,
): Promise<number> {
  let session: ConsoleSession;
  try {
    session = controls.openConsole(vm, viewer, { write: true, back: CONSOLE_BACK_BYTES });
  } catch (error) {
    if (!(error instanceof ControlError) || error.kind !== 'conflict') throw error;
    session = controls.openConsole(vm, viewer, { back: CONSOLE_BACK_BYTES });
  }
  const s = session;
  const readOnly = (): string => `read-only: ${s.holder ?? 'another session'} has the keyboard; ~! takes it over`;
  channel.write(
    `[console ${vm}: ${s.writer ? 'you have the keyboard' : readOnly()}; ~. leaves, ~? lists the escapes]\r\n`,
  );
  s.onData((chunk) => {
    if (!channel.destroyed) channel.write(chunk);
  });
  // A read-only session is told once per keyboard change that its typing goes nowhere, not once per key.
  let warned = false;
  s.onKeyboard((state) => {
    warned = false;
    if (state.takenBy) note(channel, `${state.takenBy} took the keyboard; read-only now, ~! takes it back`);
    else if (state.writer) note(channel, 'you have the keyboard');
    else if (!state.holder) note(channel, 'the keyboard is free; ~! takes it');
  });
  const scanner = new EscapeScanner();
  return new Promise((resolve) => {
    let done = false;
    const end = (code: number): void => {
      if (done) return;
      done = true;
      s.close();
      resolve(code);
    };
    channel.on('close', () => end(0));
    channel.on('data', (data: Buffer) => {
      for (const action of scanner.feed(data)) {
        if (action.kind === 'leave') {
          note(channel, 'console detached');
          return end(0);
        }
        if (action.kind === 'help') channel.write(`\r\n${ESCAPE_HELP}`);
        else if (action.kind === 'take') {
          s.takeKeyboard(true);
        } else if (!s.writer) {
          if (!warned) note(channel, s.holder ? readOnly() : 'read-only: the keyboard is free; ~! takes it');
          warned = true;
        } else {
          s.write(action.data).catch((error: Error) => note(channel, error.message));
        }
      }
    });
  });
}
