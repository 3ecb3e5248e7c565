// Runs the API fixture as its own process for tests outside the agent (the builder's `mvos vm` tests import no agent
// code). Prints one JSON line (url, socket, users with their secrets) and serves until stdin closes; a stdin line
// `console NAME TEXT` appends TEXT and a newline to that VM's console, `fail NAME REASON` fails its next start; each
// line is answered `done`.
import { createInterface } from 'node:readline';
import { startFixture } from './fixture.test-support.ts';

const fx = await startFixture();
process.stdout.write(`${JSON.stringify({ url: fx.url, socket: fx.socket, users: fx.users })}\n`);
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const match = /^console (\S+) (.*)$/.exec(line);
  if (match) fx.controls.emitConsole(match[1]!, `${match[2]}\n`);
  const failing = /^fail (\S+) (.*)$/.exec(line);
  if (failing) fx.controls.failNextStart(failing[1]!, failing[2]!);
  process.stdout.write(`${match || failing ? 'done' : 'unknown command'}\n`);
});
lines.on('close', () => void fx.close().then(() => process.exit(0)));
