// Who may pass: root on the unix socket always; over TCP a request for this listener's own address or names, a live
// session, and for changes a same-origin request with its CSRF token.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.ts';
import { hostAllowed, type ListenerIdentity, originAllowed } from './origins.ts';
import type { Caller, Route } from './router.ts';
import { readCookie, SESSION_COOKIE, type SessionStore, sameSecret } from './sessions.ts';

// Turns a request for a route into its caller, or throws 401/403.
export type Gate = (req: IncomingMessage, route: Route) => Caller;

// The header the WebUI and the CLI send the session's CSRF token in.
export const CSRF_HEADER = 'x-csrf-token';

// Methods that change something and so need the CSRF checks.
export function changesState(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

// The unix socket: its mode (0600) already limits it to root, so every request is root's.
export function socketGate(): Gate {
  return () => ({ user: 'root', via: 'socket', source: 'unix-socket' });
}

function source(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

// DNS rebinding: a page on the attacker's name that now resolves here sends Host and Origin with that name, equal to
// each other. Both are compared with the configured listener instead, and a Host that is not ours is refused for reads
// too.
function checkHost(req: IncomingMessage, listener: ListenerIdentity, secure: boolean): void {
  if (!hostAllowed(req, listener, secure)) {
    throw new HttpError(
      403,
      `Host ${JSON.stringify(req.headers.host ?? '')} is not this agent's address or one of its names (host recipe agent.api.names)`,
    );
  }
}

// A browser's own word on where a change comes from: a foreign Origin or a cross-site fetch is refused, even for login.
function checkOrigin(req: IncomingMessage, listener: ListenerIdentity, secure: boolean): void {
  const origin = req.headers.origin;
  if (origin !== undefined && !originAllowed(origin, req, listener, secure))
    throw new HttpError(403, `cross-origin request refused (Origin ${origin})`);
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    throw new HttpError(403, `cross-site request refused (Sec-Fetch-Site ${site})`);
}

// TCP: Host for everything, a session cookie for everything but public routes, and Origin + CSRF token for every
// change.
// `source` names where every request comes from when the socket has no peer address (the onion door).
export function sessionGate(
  sessions: SessionStore,
  options: { secure: boolean; listener: ListenerIdentity; source?: string },
): Gate {
  return (req, route) => {
    checkHost(req, options.listener, options.secure);
    const changing = changesState(req.method);
    if (changing) checkOrigin(req, options.listener, options.secure);
    const from = options.source ?? source(req);
    if (route.access === 'public') return { user: '', via: 'tcp', source: from };
    const session = sessions.get(readCookie(req.headers.cookie, SESSION_COOKIE));
    if (!session) throw new HttpError(401, 'log in first (POST /login with user, password and code)');
    if (changing) {
      const token = req.headers[CSRF_HEADER];
      if (typeof token !== 'string' || !sameSecret(token, session.csrf))
        throw new HttpError(403, `missing or wrong ${CSRF_HEADER} header (GET /api/session gives it)`);
    }
    return { user: session.user, via: 'tcp', source: from, csrf: session.csrf, sessionId: session.id };
  };
}
