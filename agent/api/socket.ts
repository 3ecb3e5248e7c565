// The agent's API on a unix socket (mode 0600: only root talks to it), replacing a stale socket left by an agent that
// died.
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import { connect, type Server as NetServer } from 'node:net';
import { FailureError } from '../../common/errors.ts';

// A listening API socket.
export interface ApiSocket {
  path: string;
  close: () => Promise<void>;
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
  if (!stat.isSocket())
    throw new FailureError(`${path} exists and is not a socket`, { hint: 'remove it, or point --run-dir elsewhere' });
  if (await answers(path))
    throw new FailureError(`another agent already answers on ${path}`, { hint: 'stop it first (one agent per host)' });
  await unlink(path);
}

// Closes a server, cutting open connections (console streams never end on their own).
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// Binds a server (HTTP or raw) to the socket path with mode 0600, replacing a stale socket.
export async function bindUnixSocket(server: NetServer, path: string): Promise<void> {
  await clearStale(path);
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
}

// Listens on the socket path with mode 0600 and serves every request with the listener; `prepare` puts caps and
// timeouts on the server before it listens.
export async function listenUnixSocket(
  path: string,
  listener: RequestListener,
  prepare?: (server: Server) => void,
): Promise<ApiSocket> {
  const server: Server = createServer(listener);
  prepare?.(server);
  await bindUnixSocket(server, path);
  return { path, close: () => closeServer(server) };
}
