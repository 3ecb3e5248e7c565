// A listener that could not bind becomes one clear line: which address, why, and (from /proc) which process holds it.
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { Server } from 'node:net';
import { FailureError } from '../../common/errors.ts';

// The process that holds a listening TCP socket, as far as /proc shows it.
export interface PortHolder {
  pid: number;
  command: string;
}

// Bounds on the /proc walk: a host has few processes, a build machine may have thousands.
const MAX_PIDS = 4096;

// Inodes of sockets listening on a port (state 0A in /proc/net/tcp and tcp6).
async function listeningInodes(port: number, proc: string): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`${proc}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (!local || fields[3] !== '0A') continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && fields[9]) inodes.add(fields[9]);
    }
  }
  return inodes;
}

// Finds which process listens on a TCP port; undefined when /proc does not say (another namespace, no permission).
export async function findPortHolder(port: number, proc = '/proc'): Promise<PortHolder | undefined> {
  const inodes = await listeningInodes(port, proc);
  if (inodes.size === 0) return undefined;
  const pids = (await readdir(proc).catch(() => [] as string[]))
    .filter((name) => /^\d+$/.test(name))
    .slice(0, MAX_PIDS);
  for (const pid of pids) {
    const fds = await readdir(`${proc}/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`${proc}/${pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) {
        const command = (await readFile(`${proc}/${pid}/comm`, 'utf8').catch(() => '?')).trim();
        return { pid: Number(pid), command };
      }
    }
  }
  return undefined;
}

// Turns a bind failure into a FailureError naming the listener, the address and, for EADDRINUSE, the holder.
export async function listenFailure(
  what: string,
  host: string,
  port: number,
  error: NodeJS.ErrnoException,
  setting: string,
): Promise<FailureError> {
  const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  if (error.code === 'EADDRINUSE') {
    const holder = await findPortHolder(port);
    const by = holder
      ? holder.pid === process.pid
        ? ' by this agent itself'
        : ` by pid ${holder.pid} (${holder.command})`
      : '';
    return new FailureError(`${what}: cannot listen on ${shown}: the address is already in use${by}`, {
      hint: `stop the other program (an earlier agent may still be stopping), or set ${setting} to another port`,
      cause: error,
    });
  }
  if (error.code === 'EADDRNOTAVAIL')
    return new FailureError(`${what}: cannot listen on ${shown}: no interface of this machine has that address`, {
      hint: `set ${setting} to one of this machine's addresses (or 0.0.0.0)`,
      cause: error,
    });
  if (error.code === 'EACCES')
    return new FailureError(`${what}: cannot listen on ${shown}: permission denied (ports below 1024 need root)`, {
      hint: `run as root or set ${setting} to a port ≥ 1024`,
      cause: error,
    });
  return new FailureError(`${what}: cannot listen on ${shown}: ${error.message}`, { cause: error });
}

// Listens on the address; a bind failure rejects with listenFailure's error for `what`, naming `setting` in the hint.
export function listenOn(
  server: Server,
  address: { host: string; port: number },
  what: string,
  setting: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once(
      'error',
      (error: NodeJS.ErrnoException) =>
        void listenFailure(what, address.host, address.port, error, setting).then(reject),
    );
    server.listen(address.port, address.host, () => resolve());
  });
}
