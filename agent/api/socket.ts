// The agent's API on a unix socket (mode 0600: only root talks to it): the seed of the HTTP API, GET /status for now.
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { FailureError } from '../../builder/errors.ts';
import type { AgentStatus } from '../status.ts';

// A listening API socket.
export interface ApiSocket {
  path: string;
  close: () => Promise<void>;
}

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function route(status: () => AgentStatus) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://agent').pathname;
    if (path !== '/status') return send(res, 404, { error: `no such endpoint: ${path}`, endpoints: ['GET /status'] });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: `${req.method} is not allowed on /status` }, { allow: 'GET, HEAD' });
    send(res, 200, status());
  };
}

// Whether something answers on the socket; a socket nobody answers on is left over from an agent that died.
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.setTimeout(1000, () => probe.destroy());
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
    probe.once('close', () => resolve(false));
  });
}

async function clearStale(path: string): Promise<void> {
  const stat = await lstat(path).catch(() => undefined);
  if (!stat) return;
  if (!stat.isSocket()) throw new FailureError(`${path} exists and is not a socket`, { hint: 'remove it, or point --run-dir elsewhere' });
  if (await answers(path)) throw new FailureError(`another agent already answers on ${path}`, { hint: 'stop it first (one agent per host)' });
  await unlink(path);
}

// Listens on the socket path with mode 0600, replacing a stale socket left by an agent that died.
export async function listenApiSocket(path: string, status: () => AgentStatus): Promise<ApiSocket> {
  await clearStale(path);
  const server: Server = createServer(route(status));
  // The umask covers the moment between bind() and chmod(): the socket is never reachable by others.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(umask);
  }
  await chmod(path, 0o600);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
