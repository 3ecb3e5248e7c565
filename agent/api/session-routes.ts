// The login, logout and session endpoints (TCP); on the unix socket the caller is root and there is nothing to log
// into.
import { HttpError } from './http.ts';
import type { LoginService } from './login.ts';
import { jsonRoute, type Route } from './router.ts';
import { type SessionStore, sessionCookie } from './sessions.ts';

function field(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value !== 'string' || value === '' || value.length > 1024)
    throw new HttpError(400, `"${key}" is required (a string)`);
  return value;
}

// The session rows; without a login service (unix socket) POST /login explains itself and refuses.
export function sessionRoutes(
  login: { service: LoginService; sessions: SessionStore; secure: boolean } | undefined,
): Route[] {
  return [
    jsonRoute(
      'POST /login',
      {
        summary: 'Log in with user, password and one-time code; sets the session cookie and returns the CSRF token',
        access: 'public',
        selfAudited: true,
      },
      async (ctx) => {
        if (!login) throw new HttpError(400, 'the unix socket needs no login (it is root-only)');
        const credentials = {
          user: field(ctx.body, 'user'),
          password: field(ctx.body, 'password'),
          code: field(ctx.body, 'code'),
        };
        const outcome = await login.service.attempt(credentials, ctx.caller.source);
        if (!outcome.ok) {
          const wait = Math.ceil(outcome.retryAfterMs / 1000);
          const headers: Record<string, string> = wait > 0 ? { 'retry-after': String(wait) } : {};
          if (outcome.busy)
            throw new HttpError(429, `the agent is busy with other logins: try again in ${wait} s`, headers);
          if (outcome.status === 429)
            throw new HttpError(429, `too many failed logins: try again in ${wait} s`, headers);
          throw new HttpError(401, 'wrong user, password or code', headers);
        }
        const { session } = outcome;
        return {
          body: { user: session.user, csrf: session.csrf },
          headers: { 'set-cookie': sessionCookie(session.id, login.sessions.cookieMaxAgeSeconds, login.secure) },
        };
      },
    ),
    jsonRoute('POST /logout', { summary: 'End the session', access: 'session' }, (ctx) => {
      if (login && ctx.caller.sessionId) login.sessions.delete(ctx.caller.sessionId);
      const headers: Record<string, string> = login ? { 'set-cookie': sessionCookie('', 0, login.secure) } : {};
      return { body: { loggedOut: true }, headers };
    }),
    jsonRoute(
      'GET /api/session',
      { summary: 'Who is logged in, and the CSRF token to send in x-csrf-token with every change', access: 'session' },
      (ctx) => ({
        body: { user: ctx.caller.user, via: ctx.caller.via, csrf: ctx.caller.csrf ?? null },
      }),
    ),
  ];
}
