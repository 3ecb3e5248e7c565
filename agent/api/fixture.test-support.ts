// Test fixture: the real API (socket + TCP on 127.0.0.1:0) over FakeControls, with users whose password and TOTP secret
// tests know.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type ClientRequest, type IncomingHttpHeaders, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, generateSecret } from 'otplib';
import type { ApiAnswers } from '../../common/api-types.ts';
import { hashPassword } from '../../common/secrets/password.ts';
import { encryptSecret } from '../auth/secrets.ts';
import type { AgentListen, AgentUser, HostConfig } from '../config.ts';
import { FakeControls } from '../fake-controls.test-support.ts';
import { type AgentStatus, initialStatus } from '../status.ts';
import { type Api, type ApiOptions, startApi } from './server.ts';

// A user the tests log in as.
export interface FixtureUser {
  name: string;
  password: string;
  // Base32 TOTP secret (absent: the user has no one-time code).
  secret?: string;
}

// A running fixture and what a test needs to talk to it.
export interface Fixture {
  api: Api;
  controls: FakeControls;
  dir: string;
  url: string;
  socket: string;
  users: FixtureUser[];
  // The TOTP code of a user at a time (default now).
  code: (user: string, atMs?: number) => Promise<string>;
  close: () => Promise<void>;
}

// alice and bob can log in (password + TOTP); carol has a password but no one-time code.
export const FIXTURE_USERS: FixtureUser[] = [
  { name: 'alice', password: 'correct horse battery staple', secret: generateSecret() },
  { name: 'bob', password: 'tr0ub4dor&3', secret: generateSecret() },
  { name: 'carol', password: 'no code for me' },
];

// Starts the API in a fresh temp dir; `options` reaches startApi (short lock-outs, a test clock for codes), `agent`
// lands in the host config.
export async function startFixture(
  options: Partial<ApiOptions> & { agent?: Partial<AgentListen> } = {},
  users: FixtureUser[] = FIXTURE_USERS,
): Promise<Fixture> {
  const { agent: agentFields, ...apiOptions } = options;
  const dir = await mkdtemp(join(tmpdir(), 'mvos-api-'));
  const key = randomBytes(32);
  const keyFile = join(dir, 'otp.key');
  await writeFile(keyFile, key, { mode: 0o600 });
  const agentUsers: AgentUser[] = await Promise.all(
    users.map(async (u) => ({
      name: u.name,
      passwordHash: await hashPassword(u.password),
      authorizedKeys: [],
      ...(u.secret ? { otp: { type: 'totp' as const, secret: encryptSecret(key, u.name, u.secret) } } : {}),
    })),
  );
  const config: HostConfig = {
    name: 'test-host',
    version: '1.2.3',
    stateLabel: 'MVOS-STATE',
    housekeeping: [0],
    vms: [],
    agent: { apiListen: '127.0.0.1:0', users: agentUsers, secretKeyFile: keyFile, ...agentFields },
  };
  const controls = new FakeControls();
  const base = initialStatus(config, {
    accel: 'tcg',
    accelReason: 'test',
    stateDir: join(dir, 'state'),
    startedAt: new Date('2026-01-01T00:00:00Z'),
  });
  const status = (): AgentStatus => ({ ...base, vms: controls.listVms() });
  const api = await startApi({
    controls,
    status,
    config,
    stateDir: join(dir, 'state'),
    runDir: dir,
    log: () => undefined,
    ...apiOptions,
  });
  return {
    api,
    controls,
    dir,
    url: api.tcp!.url,
    socket: api.socket.path,
    users,
    code: (name, atMs = Date.now()) => {
      const secret = users.find((u) => u.name === name)?.secret;
      if (!secret) throw new Error(`${name} has no TOTP secret`);
      return generate({ secret, epoch: Math.floor(atMs / 1000) });
    },
    close: async () => {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// An answer as tests look at it.
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // The parsed body, undefined when it is not JSON; a test reads it as the answer type of the route it called.
  json: unknown;
}

// What a test request carries besides method and path.
export interface CallOptions {
  body?: unknown;
  // Bytes sent as they are (with the headers given), in place of a JSON body; chunks are sent `gapMs` apart.
  raw?: Buffer[];
  gapMs?: number;
  headers?: Record<string, string>;
  // Resolve at the first chunk of the body and hang up (event streams never end).
  firstChunk?: boolean;
  // The client's own address (127.0.0.2, 127.0.0.3… stand for other hosts in tests).
  localAddress?: string;
}

// One HTTP request to a TCP URL or a unix socket path (a target starting with `/`).
export function call(target: string, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const data = options.body === undefined ? undefined : JSON.stringify(options.body);
  const where = target.startsWith('/')
    ? { socketPath: target }
    : {
        host: new URL(target).hostname,
        port: Number(new URL(target).port),
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      };
  const rawLength = options.raw?.reduce((n, b) => n + b.length, 0);
  const headers: Record<string, string> = {
    ...(data ? { 'content-type': 'application/json' } : {}),
    ...(rawLength !== undefined && !options.headers?.['transfer-encoding']
      ? { 'content-length': String(rawLength) }
      : {}),
    ...options.headers,
  };
  return new Promise((resolve, reject) => {
    const req = request({ ...where, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      const done = () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      };
      res.on('data', (chunk) => {
        text += chunk;
        if (options.firstChunk) {
          req.destroy();
          done();
        }
      });
      res.on('end', done);
    });
    req.on('error', (error) => (options.firstChunk && req.destroyed ? undefined : reject(error)));
    if (!options.raw) req.end(data);
    else void sendChunks(req, options.raw, options.gapMs ?? 0);
  });
}

async function sendChunks(req: ClientRequest, chunks: Buffer[], gapMs: number): Promise<void> {
  for (const [i, chunk] of chunks.entries()) {
    if (i > 0 && gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    if (req.destroyed) return;
    req.write(chunk);
  }
  req.end();
}

// A logged-in client: its cookie and CSRF token, sent with each request.
export interface Client {
  cookie: string;
  csrf: string;
  call: (method: string, path: string, options?: CallOptions) => Promise<Answer>;
}

// Logs a user in with a code (default: their code now) and returns a client for the session.
export async function login(fx: Fixture, user: string, code?: string): Promise<Client> {
  const password = fx.users.find((u) => u.name === user)!.password;
  const answer = await call(fx.url, 'POST', '/login', {
    body: { user, password, code: code ?? (await fx.code(user)) },
  });
  if (answer.status !== 200) throw new Error(`login of ${user} failed: ${answer.status} ${answer.text}`);
  const cookie = String(answer.headers['set-cookie']![0]).split(';')[0]!;
  const { csrf } = answer.json as ApiAnswers['POST /login'];
  return {
    cookie,
    csrf,
    call: (method, path, options = {}) =>
      call(fx.url, method, path, { ...options, headers: { cookie, 'x-csrf-token': csrf, ...options.headers } }),
  };
}
