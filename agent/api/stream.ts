// A VM's console as Server-Sent Events: each event's data is one JSON string of console text, so any bytes survive
// framing.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Controls } from '../controls.ts';
import { SAFE_HEADERS } from './http.ts';

// How much of the log a new viewer gets before the live output.
export const STREAM_BACKLOG_BYTES = 64 * 1024;

// Keeps proxies and idle timers from closing a quiet console.
const HEARTBEAT_MS = 15_000;

// Streams until the client goes away; the follower is let go then (a left-open follower would leak per viewer).
export async function streamConsole(
  controls: Controls,
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const backlog = await controls.consoleLog(name, { tailBytes: STREAM_BACKLOG_BYTES });
  res.writeHead(200, { ...SAFE_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
  const send = (text: string): void => {
    if (text) res.write(`data: ${JSON.stringify(text)}\n\n`);
  };
  send(backlog);
  const decoder = new TextDecoder('utf-8');
  const stop = controls.followConsole(name, (chunk) => send(decoder.decode(chunk, { stream: true })));
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  await new Promise<void>((resolve) => {
    const end = (): void => {
      clearInterval(heartbeat);
      stop();
      resolve();
    };
    req.once('close', end);
    res.once('close', end);
  });
}
