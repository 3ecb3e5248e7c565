// The agent's SSH control server: host key from the state folder, key + one-time-code login, then the command jail.
import { type AddressInfo, createServer, type Server as NetServer, type Socket } from 'node:net';
import { UserError } from '../../common/errors.ts';
import { parseListenAddress } from '../api/listen.ts';
import { bindUnixSocket } from '../api/socket.ts';
import type { UpdateControls } from '../api/update-routes.ts';
import type { VaultControls } from '../api/vault-routes.ts';
import { AuditLog } from '../auth/audit.ts';
import { ConnectionLimiter } from '../auth/connections.ts';
import { Lockout, type LockoutPolicy } from '../auth/lockout.ts';
import { OtpVerifier } from '../auth/otp.ts';
import { loadSecretKey } from '../auth/secrets.ts';
import type { AgentUser } from '../config.ts';
import type { Controls } from '../controls.ts';
import { listenOn } from '../listeners/failure.ts';
import { ConnectionAuth, parseAuthorizedKeys } from './auth.ts';
import { loadHostKey } from './hostkey.ts';
import { serveConnection } from './session.ts';
import { type ParsedKey, Server } from './ssh2.ts';

// What the server needs; main.ts passes host config fields, tests pass port 0 and their own clock and policy.
export interface SshServerOptions {
  // `IP:PORT` (host config agent.sshListen); port 0 picks a free one.
  listen: string;
  // Holds the host key, the one-time-code replay record and the audit log.
  stateDir: string;
  users: AgentUser[];
  // host config agent.secretKeyFile (read when any user has a one-time code); or the key itself.
  secretKeyFile?: string;
  secretKey?: Buffer;
  controls: Controls;
  // Signed A/B updates (`update …` in the jail).
  update?: UpdateControls;
  // The host vault (`vault …`, `otp NAME`, `ssh-cert` in the jail).
  vault?: VaultControls;
  log?: (line: string) => void;
  // Milliseconds since the epoch, for codes and lockout (tests move it).
  now?: () => number;
  lockout?: Partial<LockoutPolicy>;
  // Seconds a connection may take to log in (default 30).
  loginGraceSeconds?: number;
  // Connections from all non-local sources together (default 64); more are closed at once. Loopback is counted apart.
  maxConnections?: number;
  // Connections from one source, an IPv4 address or IPv6 /64 (default 8): one source's silent connections cannot lock
  // the others out.
  maxConnectionsPerSource?: number;
  // The onion service's door: a unix socket its gateway's local link leads to (every client behind it is "onion").
  onionSocket?: string;
  // The HTTP API's code checker, failure counter and audit log, so both doors share one replay record and one lockout.
  shared?: { otp?: OtpVerifier; lockout?: Lockout; audit?: AuditLog };
}

// A running SSH server: where it listens, its host key fingerprint (for status and the console), and how to stop it.
export interface SshServer {
  host: string;
  port: number;
  fingerprint: string;
  publicKey: string;
  audit: AuditLog;
  close(): Promise<void>;
}

function addressOf(listen: string): { host: string; port: number } {
  try {
    return parseListenAddress(listen);
  } catch {
    throw new UserError(`agent.sshListen must be IP:PORT, e.g. 0.0.0.0:22 or [::1]:2222 (got "${listen}")`, {
      hint: 'set agent.ssh.listen in the host recipe',
    });
  }
}

// Starts listening; resolves once bound, with the host key fingerprint logged.
export async function startSshServer(options: SshServerOptions): Promise<SshServer> {
  const address = addressOf(options.listen);
  const log = options.log ?? (() => undefined);
  const hostKey = await loadHostKey(options.stateDir);
  const otp =
    options.shared?.otp ??
    new OtpVerifier(
      options.users,
      options.secretKey ?? (await loadSecretKey(options.secretKeyFile, options.users)),
      options.stateDir,
      { now: options.now },
    );
  const lockout = options.shared?.lockout ?? new Lockout(options.lockout, options.now);
  const audit =
    options.shared?.audit ?? new AuditLog(options.stateDir, options.now && (() => new Date(options.now!())));
  const keys = new Map<string, ParsedKey[]>();
  for (const user of options.users) {
    const parsed = parseAuthorizedKeys(user.authorizedKeys);
    for (const bad of parsed.bad)
      log(`ssh: warning: an authorized key of ${user.name} does not parse (${bad}…); skipped`);
    keys.set(user.name, parsed.keys);
  }
  // Raw sockets are ours (injected into ssh2), so the limits and the login grace also hold for clients that never speak
  // SSH.
  const sockets = new Map<string, { socket: Socket; grace: NodeJS.Timeout }>();
  const limiter = new ConnectionLimiter({
    maxConnections: options.maxConnections ?? 64,
    perSource: options.maxConnectionsPerSource ?? 8,
  });
  // Over TCP a client is its address, and one ssh2 server takes them all; through the onion door every client is
  // "onion" (the one local link is all the agent sees of them) and gets an ssh2 server of its own, which knows the
  // socket's slot by name.
  const sshServer = (onion?: { key: string }) =>
    new Server({ hostKeys: [hostKey.privateKey], ident: 'mvos-agent' }, (client, info) => {
      const source = onion ? 'onion' : info.ip;
      const slot = sockets.get(onion ? onion.key : `${info.ip}:${info.port}`);
      client.on('error', (error) => log(`ssh: ${source}: ${error.message}`));
      const auth = new ConnectionAuth({ users: options.users, otp, lockout, audit }, keys, source, () => client.end());
      client.on('authentication', (ctx) => auth.handle(ctx));
      client.on('ready', () => {
        if (slot) clearTimeout(slot.grace);
        serveConnection(client, {
          user: auth.user!,
          source,
          controls: options.controls,
          audit,
          ...(options.update ? { update: options.update } : {}),
          ...(options.vault ? { vault: options.vault } : {}),
          ...(auth.keyLine ? { publicKey: auth.keyLine } : {}),
        });
      });
      client.on('close', () => auth.closed());
    });
  const ssh = sshServer();
  // Raw sockets are ours (injected into ssh2), so the limits and the login grace also hold for clients that never speak
  // SSH.
  const admit = (socket: Socket, server: InstanceType<typeof Server>, source: string, key: string): void => {
    const release = limiter.admit(source);
    if (!release) {
      void audit
        .record({ who: '', source, action: 'connect', result: 'refused', reason: 'too-many-connections' })
        .catch(() => undefined);
      socket.destroy();
      return;
    }
    const grace = setTimeout(() => socket.destroy(), (options.loginGraceSeconds ?? 30) * 1000);
    sockets.set(key, { socket, grace });
    socket.on('close', () => {
      clearTimeout(grace);
      sockets.delete(key);
      release();
    });
    server.injectSocket(socket);
  };
  const tcp = createServer((socket) =>
    admit(socket, ssh, socket.remoteAddress ?? '', `${socket.remoteAddress}:${socket.remotePort}`),
  );
  let door: NetServer | undefined;
  let doorConnections = 0;
  if (options.onionSocket) {
    door = createServer((socket) => {
      const key = `onion#${++doorConnections}`;
      admit(socket, sshServer({ key }), 'onion', key);
    });
    await bindUnixSocket(door, options.onionSocket);
    door.on('error', (error: Error) => log(`ssh: onion door: ${error.message}`));
  }
  await listenOn(tcp, address, 'ssh', 'agent.ssh.listen').catch((error: Error) => {
    door?.close();
    throw error;
  });
  tcp.on('error', (error: Error) => log(`ssh: server error: ${error.message}`));
  const port = (tcp.address() as AddressInfo).port;
  log(`ssh: listening on ${address.host}:${port}; host key ${hostKey.fingerprint} (ED25519)`);
  return {
    host: address.host,
    port,
    fingerprint: hostKey.fingerprint,
    publicKey: hostKey.publicKey,
    audit,
    close: async () => {
      const closed = Promise.all(
        [tcp, ...(door ? [door] : [])].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
      for (const { socket } of sockets.values()) socket.destroy();
      await closed;
      await audit.close();
    },
  };
}
