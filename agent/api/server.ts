// The whole API: the route table served on the root-only unix socket and, when host config names one, on a TCP address behind login.
import { join } from 'node:path';
import { AuditLog } from '../auth/audit.ts';
import { Lockout, type LockoutPolicy } from '../auth/lockout.ts';
import { OtpVerifier, type OtpOptions } from '../auth/otp.ts';
import { loadSecretKey } from '../auth/secrets.ts';
import type { HostConfig } from '../config.ts';
import type { Controls } from '../controls.ts';
import type { AgentStatus } from '../status.ts';
import { sendLoginPage, webRoutes } from '../web/routes.ts';
import { dispatcher } from './dispatch.ts';
import { sessionGate, socketGate } from './gate.ts';
import { listenTcp, parseListenAddress, type ApiTcp, type TlsFiles } from './listen.ts';
import { LoginService } from './login.ts';
import { openApiRoute } from './openapi.ts';
import type { Route } from './router.ts';
import { controlRoutes } from './routes.ts';
import { sessionRoutes } from './session-routes.ts';
import { SessionStore, type SessionPolicy } from './sessions.ts';
import { listenUnixSocket, type ApiSocket } from './socket.ts';

// What the API serves and where; the tuning fields exist for tests (short lock-outs, a moving clock).
export interface ApiOptions {
  controls: Controls;
  status: () => AgentStatus;
  config: HostConfig;
  stateDir: string;
  runDir: string;
  // Overrides host config agent.apiListen (tests use 127.0.0.1:0).
  listen?: string;
  tls?: TlsFiles;
  lockout?: Partial<LockoutPolicy>;
  sessions?: Partial<SessionPolicy>;
  otp?: OtpOptions;
  log?: (line: string) => void;
}

// The running API: the socket always, TCP when configured, and the audit log they share.
export interface Api {
  socket: ApiSocket;
  tcp?: ApiTcp;
  audit: AuditLog;
  close: () => Promise<void>;
}

// The full table for one listener (the socket's has no login service behind POST /login).
export function apiRoutes(controls: Controls, status: () => AgentStatus, login?: Parameters<typeof sessionRoutes>[0]): Route[] {
  const routes: Route[] = [...controlRoutes(controls, status), ...sessionRoutes(login), ...webRoutes()];
  return [...routes, openApiRoute()];
}

// Starts the listeners; a TCP listener without users who could log in is refused (it would be a locked door nobody can open).
export async function startApi(options: ApiOptions): Promise<Api> {
  const log = options.log ?? ((line: string) => process.stderr.write(`mvos-agent: api: ${line}\n`));
  const audit = new AuditLog(options.stateDir);
  const socket = await listenUnixSocket(
    join(options.runDir, 'agent.sock'),
    dispatcher(apiRoutes(options.controls, options.status), { gate: socketGate(), audit, loginPage: sendLoginPage, log }),
  );
  const address = options.listen ?? options.config.agent.apiListen;
  let tcp: ApiTcp | undefined;
  if (address) {
    try {
      const users = options.config.agent.users;
      const key = await loadSecretKey(options.config.agent.secretKeyFile, users);
      const sessions = new SessionStore(options.sessions);
      const service = new LoginService({ users, otp: new OtpVerifier(users, key, options.stateDir, options.otp), lockout: new Lockout(options.lockout), audit, sessions });
      const secure = Boolean(options.tls);
      const routes = apiRoutes(options.controls, options.status, { service, sessions, secure });
      tcp = await listenTcp(parseListenAddress(address), dispatcher(routes, { gate: sessionGate(sessions, { secure }), audit, loginPage: sendLoginPage, log }), options.tls);
      if (!users.some((u) => u.passwordHash && u.otp)) log(`warning: ${tcp.url} is open but no user has both a password and a one-time code: nobody can log in`);
    } catch (error) {
      await socket.close();
      throw error;
    }
  }
  return {
    socket,
    ...(tcp ? { tcp } : {}),
    audit,
    close: async () => {
      await Promise.all([socket.close(), tcp?.close()]);
      await audit.close();
    },
  };
}
