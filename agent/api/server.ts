// The whole API: the route table served on the root-only unix socket and, when host config names one, on a TCP address
// behind login.
import { join } from 'node:path';
import { ONION_PORTS } from '../../common/net/onion-link.ts';
import { AuditLog, type AuditPolicy } from '../auth/audit.ts';
import { HashQueue, type HashQueuePolicy } from '../auth/hash-queue.ts';
import { Lockout, type LockoutPolicy } from '../auth/lockout.ts';
import { type OtpOptions, OtpVerifier } from '../auth/otp.ts';
import { loadSecretKey } from '../auth/secrets.ts';
import type { HostConfig } from '../config.ts';
import type { Controls } from '../controls.ts';
import { RetryingListener } from '../listeners/retry.ts';
import { type AgentStatus, withAudit } from '../status.ts';
import { sendLoginPage, webRoutes } from '../web/routes.ts';
import { consoleRoutes } from './console-routes.ts';
import { dispatcher } from './dispatch.ts';
import { sessionGate, socketGate } from './gate.ts';
import { guardServer, type HttpLimits } from './guard.ts';
import { type ApiTcp, listenTcp, type TlsFiles } from './listen.ts';
import { LoginService } from './login.ts';
import { isLoopbackHost } from './loopback.ts';
import { openApiRoute } from './openapi.ts';
import type { Route } from './router.ts';
import { controlRoutes } from './routes.ts';
import { sessionRoutes } from './session-routes.ts';
import { type SessionPolicy, SessionStore } from './sessions.ts';
import { type ApiSocket, listenUnixSocket } from './socket.ts';
import { tcpTransport } from './tls.ts';
import { type UpdateControls, updateRoutes } from './update-routes.ts';
import { type VaultControls, vaultRoutes } from './vault-routes.ts';

// What the API serves and where; the tuning fields exist for tests (short lock-outs, a moving clock).
export interface ApiOptions {
  controls: Controls;
  status: () => AgentStatus;
  config: HostConfig;
  stateDir: string;
  runDir: string;
  // Overrides host config agent.apiListen (tests use 127.0.0.1:0).
  listen?: string;
  // Overrides host config agent.apiTls with a key and certificate in hand.
  tls?: TlsFiles;
  lockout?: Partial<LockoutPolicy>;
  sessions?: Partial<SessionPolicy>;
  otp?: OtpOptions;
  // Connection caps and timeouts of the TCP listener, the password hash queue, and the audit log's bounds.
  limits?: Partial<HttpLimits>;
  hashQueue?: Partial<HashQueuePolicy>;
  audit?: Partial<AuditPolicy>;
  log?: (line: string) => void;
  // Signed A/B updates (absent: the update routes answer 404).
  update?: UpdateControls;
  // The host vault (absent: its routes answer 404, GET says none).
  vault?: VaultControls;
  // The onion service's door: a unix socket its gateway's local link leads to, serving the same routes behind the same
  // login as TCP, for Host `address` (port 80, plain HTTP inside the onion connection).
  onion?: { socket: string; address: string };
  // A TCP address that cannot be bound is retried in the background instead of failing the start (the host's agent:
  // its socket and VMs keep running, and status names the listener that is down).
  retryListen?: { intervalMs?: number; onChange?: () => void };
}

// The running API: the socket always, TCP when configured, and the audit log they share.
export interface Api {
  socket: ApiSocket;
  tcp?: ApiTcp;
  // With retryListen: the TCP listener that keeps trying (its status says whether it is bound).
  tcpListener?: RetryingListener<ApiTcp>;
  // The onion service's door.
  onion?: ApiSocket;
  audit: AuditLog;
  // What the SSH server takes over, so one lock-out counts failures at both doors (and one replay record, one audit
  // log).
  shared: { lockout: Lockout; audit: AuditLog; otp?: OtpVerifier };
  // The status as served, with the audit log's counts (status.json is written from it too).
  status: () => AgentStatus;
  close: () => Promise<void>;
}

// The full table for one listener (the socket's has no login service behind POST /login).
export function apiRoutes(
  controls: Controls,
  status: () => AgentStatus,
  login?: Parameters<typeof sessionRoutes>[0],
  audit?: AuditLog,
  update?: UpdateControls,
  vault?: VaultControls,
): Route[] {
  const routes: Route[] = [
    ...controlRoutes(controls, status),
    ...updateRoutes(update),
    ...vaultRoutes(vault),
    ...consoleRoutes(controls, audit),
    ...sessionRoutes(login),
    ...webRoutes(),
  ];
  return [...routes, openApiRoute()];
}

// The login service of the TCP and onion doors, with the users' one-time codes opened.
async function loginService(
  options: ApiOptions,
  lockout: Lockout,
  audit: AuditLog,
): Promise<{ service: LoginService; sessions: SessionStore; otp: OtpVerifier }> {
  const users = options.config.agent.users;
  const key = await loadSecretKey(options.config.agent.secretKeyFile, users);
  const sessions = new SessionStore(options.sessions);
  const otp = new OtpVerifier(users, key, options.stateDir, options.otp);
  const service = new LoginService({ users, otp, lockout, audit, sessions, queue: new HashQueue(options.hashQueue) });
  return { service, sessions, otp };
}

// Starts the listeners; a TCP listener without users who could log in is refused (it would be a locked door nobody can
// open).
export async function startApi(options: ApiOptions): Promise<Api> {
  const log = options.log ?? ((line: string) => process.stderr.write(`mvos-agent: api: ${line}\n`));
  const audit = new AuditLog(options.stateDir, undefined, options.audit);
  const lockout = new Lockout(options.lockout);
  const status = (): AgentStatus => withAudit(options.status(), audit.stats());
  let otp: OtpVerifier | undefined;
  const socket = await listenUnixSocket(
    join(options.runDir, 'agent.sock'),
    dispatcher(apiRoutes(options.controls, status, undefined, audit, options.update, options.vault), {
      gate: socketGate(),
      audit,
      loginPage: sendLoginPage,
      log,
    }),
  );
  const refuseConnection = (from: string): void =>
    void audit
      .record({ who: '', source: from, action: 'connect', result: 'refused', reason: 'too-many-connections' })
      .catch(() => undefined);
  const address = options.listen ?? options.config.agent.apiListen;
  let tcp: ApiTcp | undefined;
  let tcpListener: RetryingListener<ApiTcp> | undefined;
  let onion: ApiSocket | undefined;
  try {
    // One login service for every door: one lock-out, one replay record, one session store.
    const login = address || options.onion ? await loginService(options, lockout, audit) : undefined;
    otp = login?.otp;
    if (address && login) {
      const { service, sessions } = login;
      const users = options.config.agent.users;
      const transport = await tcpTransport(address, options.config.agent, {
        stateDir: options.stateDir,
        hostName: options.config.name,
        ...(options.tls ? { tls: options.tls } : {}),
      });
      const secure = transport.secure;
      const routes = apiRoutes(
        options.controls,
        status,
        { service, sessions, secure },
        audit,
        options.update,
        options.vault,
      );
      const cert = transport.certificate;
      const bind = async (): Promise<ApiTcp> => {
        const bound = await listenTcp(
          transport.address,
          dispatcher(routes, {
            gate: sessionGate(sessions, { secure, listener: transport.identity }),
            audit,
            loginPage: sendLoginPage,
            log,
          }),
          transport.tls,
          (server) => guardServer(server, options.limits, refuseConnection),
        );
        return cert
          ? { ...bound, certificate: { source: cert.source, file: cert.file, fingerprint: cert.fingerprint } }
          : bound;
      };
      if (cert)
        log(
          `TLS certificate ${cert.file} (${cert.source}${cert.made ? ', made on this start' : ''}) SHA-256 fingerprint ${cert.fingerprint}`,
        );
      const shown = transport.address.host.includes(':')
        ? `[${transport.address.host}]:${transport.address.port}`
        : `${transport.address.host}:${transport.address.port}`;
      if (!secure && !isLoopbackHost(transport.address.host))
        log(
          `warning: ${shown} serves plain HTTP off loopback (agent.api.insecure): passwords and session cookies cross the network readable`,
        );
      if (!users.some((u) => u.passwordHash && u.otp))
        log(`warning: ${shown} is open but no user has both a password and a one-time code: nobody can log in`);
      if (options.retryListen) {
        const retry = options.retryListen;
        tcpListener = new RetryingListener('api', shown, bind, {
          ...(retry.intervalMs ? { intervalMs: retry.intervalMs } : {}),
          log,
          onChange: () => retry.onChange?.(),
        });
        tcp = await tcpListener.start();
      } else tcp = await bind();
    }
    if (options.onion && login) {
      const { service, sessions } = login;
      // Inside the onion connection: end-to-end encrypted and authenticated by Tor, so plain HTTP; every connection
      // comes from the one local link, so the door is one source to the caps and the lock-out.
      const routes = apiRoutes(
        options.controls,
        status,
        { service, sessions, secure: false },
        audit,
        options.update,
        options.vault,
      );
      onion = await listenUnixSocket(
        options.onion.socket,
        dispatcher(routes, {
          gate: sessionGate(sessions, {
            secure: false,
            listener: { host: options.onion.address, names: [], port: ONION_PORTS.api },
            source: 'onion',
          }),
          audit,
          loginPage: sendLoginPage,
          log,
        }),
        (server) => guardServer(server, options.limits, refuseConnection),
      );
    }
  } catch (error) {
    await Promise.all([socket.close(), tcpListener ? tcpListener.close() : tcp?.close(), onion?.close()]);
    throw error;
  }
  return {
    socket,
    ...(tcp ? { tcp } : {}),
    ...(tcpListener ? { tcpListener } : {}),
    ...(onion ? { onion } : {}),
    audit,
    shared: { lockout, audit, ...(otp ? { otp } : {}) },
    status,
    close: async () => {
      await Promise.all([socket.close(), tcpListener ? tcpListener.close() : tcp?.close(), onion?.close()]);
      // Streams cut by the close end their console sessions a tick later; their audit lines go before the log is
      // flushed.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await audit.close();
    },
  };
}
