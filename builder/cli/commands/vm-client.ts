// The `mvos vm` client of the agent's HTTP API: plain HTTP over the root-only unix socket, or a URL with login
// (password + code). The builder never imports the agent: the routes and the shapes of their answers are the contract
// in common/api-types.ts.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ApiAnswers, ApiError, ApiRoute } from '../../../common/api-types.ts';
import { FailureError, MvosError, UserError } from '../../../common/errors.ts';
import { socksConnect } from './socks5.ts';

// Where the agent listens on a host.
export const DEFAULT_SOCKET = '/run/mvos/agent.sock';

// How to reach the agent: its socket, or a URL and the login that goes with it.
export interface AgentTarget {
  socket?: string;
  host?: string;
  // A SOCKS5 proxy (`HOST:PORT`, Tor's SocksPort) the connection to `host` goes through; the proxy resolves the name
  // (an onion address resolves nowhere else).
  tor?: string;
  login?: () => Promise<{ user: string; password: string; code: string }>;
}

// One answer: status and body (parsed when JSON).
export interface AgentAnswer {
  status: number;
  text: string;
  json: unknown;
  // The first Set-Cookie, if any (the session after a login).
  cookie?: string;
}

// The parameters a route's path names (`{name}`, `{id}`), each a string.
export type PathParams<Path extends string> = Path extends `${string}{${infer Name}}${infer Rest}`
  ? { [K in Name | keyof PathParams<Rest>]: string }
  : Record<never, string>;

// The refusal message of an answer, when the agent sent one.
export function refusalMessage(answer: Pick<AgentAnswer, 'json'>): string | undefined {
  return (answer.json as Partial<ApiError> | undefined)?.error;
}

function fillPath(pattern: string, params: Record<string, string>): string {
  return pattern.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
}

interface Transport {
  options: RequestOptions;
  request: typeof httpRequest;
  label: string;
}

function transport(target: AgentTarget): Transport {
  if (!target.host) {
    const socket = target.socket ?? DEFAULT_SOCKET;
    return { options: { socketPath: socket }, request: httpRequest, label: socket };
  }
  let url: URL;
  try {
    url = new URL(target.host);
  } catch {
    throw new UserError(`--host must be a URL like http://192.0.2.10:8443 (got "${target.host}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UserError(`--host must be an http:// or https:// URL (got "${target.host}")`);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host.endsWith('.onion') && !target.tor)
    throw new UserError(`${host} is an onion address: give --tor with your Tor's SocksPort, e.g. --tor 127.0.0.1:9050`);
  const proxy = target.tor ? socksProxy(target.tor) : undefined;
  return {
    options: {
      host,
      port: Number(port),
      ...(proxy
        ? {
            createConnection: (_options, done) => {
              socksConnect(proxy, host, Number(port)).then(
                (socket) => done(null, socket),
                (error: Error) => done(error, undefined as never),
              );
              return undefined;
            },
          }
        : {}),
    },
    request: url.protocol === 'https:' ? httpsRequest : httpRequest,
    label: url.origin,
  };
}

// `HOST:PORT` of a SOCKS proxy.
function socksProxy(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535)
    throw new UserError(`--tor must be HOST:PORT of a SOCKS5 proxy, e.g. 127.0.0.1:9050 (got "${text}")`);
  return { host: match[1] ?? match[2]!, port };
}

function unreachable(error: NodeJS.ErrnoException, t: Transport, viaSocket: boolean): Error {
  // The SOCKS proxy's own reason (an onion service that wants a key, say) is already the whole story.
  if (error instanceof MvosError) return error;
  if (viaSocket && (error.code === 'ENOENT' || error.code === 'ECONNREFUSED')) {
    return new FailureError(`the agent is not running: nothing answers on ${t.label}`, {
      hint:
        'on a host the agent starts at boot (see /run/mvos/status.json); elsewhere name its socket with ' +
        '--socket PATH or a remote agent with --host URL',
    });
  }
  if (viaSocket && error.code === 'EACCES')
    return new FailureError(`no permission to talk to ${t.label} (the socket is root-only)`, {
      hint: 'run mvos vm as root',
    });
  return new FailureError(`cannot reach the agent at ${t.label}: ${error.message}`, {
    hint: 'check the URL and that agent.apiListen is set in the host recipe',
  });
}

function refusal(status: number, json: unknown, text: string): Error {
  const message = refusalMessage({ json }) ?? (text.trim() || `HTTP ${status}`);
  if (status === 400 || status === 404) return new UserError(message);
  if (status === 401)
    return new UserError(`the agent refused the login: ${message}`, {
      hint: 'check --user, MVOS_PASSWORD and the current MVOS_OTP code (each code works once)',
    });
  if (status === 429)
    return new FailureError(message, { hint: 'too many failed logins from here or for this user; wait and try again' });
  return new FailureError(`the agent answered ${status}: ${message}`);
}

function collect(res: IncomingMessage): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => (text += chunk));
    res.on('error', reject);
    res.on('end', () => {
      let json: unknown;
      if ((res.headers['content-type'] ?? '').startsWith('application/json')) json = JSON.parse(text);
      resolve({
        status: res.statusCode ?? 0,
        text,
        json,
        ...(res.headers['set-cookie'] ? { cookie: res.headers['set-cookie'][0] } : {}),
      });
    });
  });
}

// A connection to one agent; over a URL it logs in on first use and sends the session cookie and CSRF token after.
export class AgentClient {
  private readonly t: Transport;
  private session?: { cookie: string; csrf: string };

  constructor(private readonly target: AgentTarget) {
    this.t = transport(target);
  }

  private send(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<IncomingMessage> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = this.t.request(
        {
          ...this.t.options,
          method,
          path,
          headers: { ...headers, ...(data ? { 'content-type': 'application/json' } : {}) },
        },
        resolve,
      );
      req.on('error', (error) => reject(unreachable(error as NodeJS.ErrnoException, this.t, !this.target.host)));
      req.end(data);
    });
  }

  private async headers(): Promise<Record<string, string>> {
    if (!this.target.host) return {};
    if (!this.session) {
      if (!this.target.login)
        throw new UserError('--host needs a login', {
          hint: 'give --user, and MVOS_PASSWORD and MVOS_OTP (or answer the prompts)',
        });
      const answer = await collect(await this.send('POST', '/login', await this.target.login(), {}));
      if (answer.status !== 200) throw refusal(answer.status, answer.json, answer.text);
      const cookie = (answer.cookie ?? '').split(';')[0]!;
      this.session = { cookie, csrf: (answer.json as ApiAnswers['POST /login']).csrf };
    }
    return { cookie: this.session.cookie, 'x-csrf-token': this.session.csrf };
  }

  // Sends a request and returns the answer whatever its status (a refusal the caller handles itself, as a 409 or 429).
  async attempt(method: string, path: string, body?: unknown): Promise<AgentAnswer> {
    return collect(await this.send(method, path, body, await this.headers()));
  }

  // Sends a request and returns the JSON (or text) of a 2xx answer; anything else throws the matching mvos error.
  async call(method: string, path: string, body?: unknown): Promise<AgentAnswer> {
    const answer = await collect(await this.send(method, path, body, await this.headers()));
    if (answer.status < 200 || answer.status >= 300) throw refusal(answer.status, answer.json, answer.text);
    return answer;
  }

  // The JSON answer of a route of the contract, its path filled from `params`; a refusal throws as `call` does.
  async answer<R extends ApiRoute>(route: R, params: PathParams<R>, body?: unknown): Promise<ApiAnswers[R]> {
    const [method, pattern] = route.split(' ') as [string, string];
    return (await this.call(method, fillPath(pattern, params), body)).json as ApiAnswers[R];
  }

  // Streams a file as the body of a POST (application/octet-stream, its size declared) and returns the JSON of a 2xx
  // answer; a refusal throws as `call` does, with the agent's reason even when it answered before the file was sent.
  async upload<R extends ApiRoute>(route: R, query: string, file: string): Promise<ApiAnswers[R]> {
    const [method, path] = route.split(' ') as [string, string];
    const headers = await this.headers();
    const { size } = await stat(file);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = this.t.request(
        {
          ...this.t.options,
          method,
          path: `${path}${query}`,
          headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(size) },
        },
        resolve,
      );
      req.on('error', (error) => reject(unreachable(error as NodeJS.ErrnoException, this.t, !this.target.host)));
      const body = createReadStream(file);
      body.on('error', (error) => req.destroy(error));
      body.pipe(req);
    });
    const answer = await collect(res);
    if (answer.status < 200 || answer.status >= 300) throw refusal(answer.status, answer.json, answer.text);
    return answer.json as ApiAnswers[R];
  }

  // Follows a Server-Sent Events stream, handing each event's data (a JSON string) to onText; resolves when the agent
  // ends it.
  async follow(path: string, onText: (text: string) => void, signal?: AbortSignal): Promise<void> {
    return this.events(
      path,
      (type, data) => {
        if (type === 'message') onText(data as string);
      },
      signal,
    );
  }

  // Follows a Server-Sent Events stream, handing each event's type (`message` when unnamed) and parsed data to onEvent;
  // resolves when the stream ends, by the agent or by `signal`.
  async events(path: string, onEvent: (type: string, data: unknown) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.send('GET', path, undefined, await this.headers());
    if (res.statusCode !== 200) {
      const answer = await collect(res);
      throw refusal(answer.status, answer.json, answer.text);
    }
    signal?.addEventListener('abort', () => res.destroy());
    let buffer = '';
    res.setEncoding('utf8');
    await new Promise<void>((resolve) => {
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const event = buffer.slice(0, end).split('\n');
          buffer = buffer.slice(end + 2);
          const type = event.find((line) => line.startsWith('event: '))?.slice(7) ?? 'message';
          for (const line of event) if (line.startsWith('data: ')) onEvent(type, JSON.parse(line.slice(6)));
        }
      });
      res.on('close', resolve);
      res.on('error', resolve);
    });
  }
}
