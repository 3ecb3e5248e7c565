// The route table's shape and its matcher: `/api/vms/{name}` patterns, one handler per method and path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiAnswers, ApiRoute } from '../../common/api-types.ts';
import { HttpError } from './http.ts';

// Who is asking: a logged-in user over TCP, or root on the unix socket.
export interface Caller {
  user: string;
  via: 'socket' | 'tcp';
  source: string;
  // The session's CSRF token (TCP only), handed to the WebUI by GET /api/session.
  csrf?: string;
  sessionId?: string;
}

// What a handler gets: the request, its path parameters, query and (for POST/DELETE) JSON body.
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
  caller: Caller;
  // Set by the handler to say what the audit log records beyond the route (a checkpoint id, a reason).
  auditDetail?: string;
}

// A JSON answer; a handler that writes the response itself (streams, pages) returns undefined.
export interface Reply<Body = unknown> {
  status?: number;
  body: Body;
  headers?: Record<string, string>;
}

// One row of the table: the OpenAPI document is checked against these rows.
export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  summary: string;
  // public: answers without a session (login page, its assets, POST /login); page: needs one, else the login page
  // (401).
  access: 'public' | 'session' | 'page';
  // Writes its own audit lines (login), so the router does not add one.
  selfAudited?: boolean;
  // The handler reads the request body itself, as a stream (a bundle upload), instead of the JSON body.
  streamBody?: boolean;
  handle: (ctx: RouteContext) => Promise<Reply | undefined> | Reply | undefined;
}

// A row whose answer is the shape common/api-types.ts names for its method and path, so a handler that strays does not
// compile.
export function jsonRoute<K extends ApiRoute>(
  key: K,
  row: Omit<Route, 'method' | 'path' | 'handle'>,
  handle: (ctx: RouteContext) => Promise<Reply<ApiAnswers[K]>> | Reply<ApiAnswers[K]>,
): Route {
  const [method, path] = key.split(' ') as [Route['method'], string];
  return { method, path, ...row, handle };
}

// A route and the parameters its pattern took from the path.
export interface Match {
  route: Route;
  params: Record<string, string>;
}

function segments(path: string): string[] {
  return path.split('/').slice(1);
}

function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = segments(pattern);
  const got = segments(path);
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    let g: string;
    try {
      g = decodeURIComponent(got[i]!);
    } catch {
      return undefined;
    }
    if (w.startsWith('{') && w.endsWith('}')) {
      if (g === '' || g.includes('/')) return undefined;
      params[w.slice(1, -1)] = g;
    } else if (w !== g) {
      return undefined;
    }
  }
  return params;
}

// Finds the route for a method and path; a known path with another method is a 405 naming the allowed ones.
export function matchRoute(routes: readonly Route[], method: string, path: string): Match {
  const allowed: string[] = [];
  for (const route of routes) {
    const params = matchPath(route.path, path);
    if (!params) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
    allowed.push(route.method);
  }
  if (allowed.length > 0)
    throw new HttpError(405, `${method} is not allowed on ${path}`, { allow: allowed.join(', ') });
  throw new HttpError(404, `no such endpoint: ${path} (GET /openapi.json lists them)`);
}
