// One request through the table: match, gate, body, handler, JSON answer or error, and an audit line for every change.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ApiError } from '../../common/api-types.ts';
import type { AuditLog } from '../auth/audit.ts';
import { changesState, type Gate } from './gate.ts';
import { errorReply, readJsonBody, sendJson } from './http.ts';
import { type Caller, matchRoute, type Route, type RouteContext } from './router.ts';

// What the dispatcher needs besides the table.
export interface DispatchOptions {
  gate: Gate;
  audit: AuditLog;
  // Answers a page route asked for without a session (the login page, with 401).
  loginPage: (res: ServerResponse) => void;
  log: (line: string) => void;
}

function audited(route: Route, method: string | undefined): boolean {
  return changesState(method) && !route.selfAudited;
}

function target(params: Record<string, string>): string | undefined {
  const parts = Object.values(params);
  return parts.length ? parts.join('/') : undefined;
}

async function serve(
  routes: readonly Route[],
  options: DispatchOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent');
  let route: Route | undefined;
  let ctx: RouteContext | undefined;
  let caller: Caller | undefined;
  try {
    const match = matchRoute(routes, req.method ?? 'GET', url.pathname);
    route = match.route;
    caller = options.gate(req, route);
    const body = changesState(req.method) && !route.streamBody ? await readJsonBody(req) : {};
    ctx = { req, res, params: match.params, query: url.searchParams, body, caller };
    const reply = await route.handle(ctx);
    // Recorded before the answer, so whoever sees the change done can read it in the log.
    if (audited(route, req.method)) {
      await options.audit.record({
        who: caller.user,
        source: caller.source,
        action: `${req.method} ${route.path}`,
        target: target(match.params),
        detail: ctx.auditDetail,
        result: 'ok',
      });
    }
    if (reply) sendJson(res, reply.status ?? 200, reply.body, reply.headers);
  } catch (error) {
    const { status, message, headers } = errorReply(error);
    if (status === 500) options.log(`${req.method} ${url.pathname}: ${(error as Error)?.stack ?? String(error)}`);
    if (route && caller && audited(route, req.method)) {
      await options.audit
        .record({
          who: caller.user,
          source: caller.source,
          action: `${req.method} ${route.path}`,
          target: ctx && target(ctx.params),
          detail: ctx?.auditDetail,
          result: status >= 500 ? 'error' : 'refused',
          reason: message,
        })
        .catch((e: Error) => options.log(`audit log: ${e.message}`));
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (status === 401 && route?.access === 'page') options.loginPage(res);
    else sendJson(res, status, { error: message } satisfies ApiError, headers);
  }
}

// The request listener for one listener's gate.
export function dispatcher(routes: readonly Route[], options: DispatchOptions): RequestListener {
  return (req, res) => void serve(routes, options, req, res);
}
