// Login sessions over TCP: a random 256-bit id in an HttpOnly cookie, a CSRF token per session, idle and absolute
// expiry.
import { randomBytes, timingSafeEqual } from 'node:crypto';

// One logged-in user; the id travels only in the cookie, the CSRF token only in a header.
export interface Session {
  id: string;
  user: string;
  csrf: string;
  createdAt: number;
  lastSeen: number;
}

// How long sessions live: idle ones end early, busy ones still end at maxAgeMs.
export interface SessionPolicy {
  idleMs: number;
  maxAgeMs: number;
  // Most sessions kept at once; the oldest go first, so logins cannot grow memory without bound.
  maxSessions: number;
}

// Defaults: 30 minutes idle, 12 hours at most.
export const DEFAULT_SESSIONS: SessionPolicy = { idleMs: 30 * 60_000, maxAgeMs: 12 * 3_600_000, maxSessions: 1000 };

// The cookie's name.
export const SESSION_COOKIE = 'mvos_session';

// Compares two secrets in constant time (a different length is simply false).
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// Sessions in memory: an agent restart logs everyone out, which is the safe direction.
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly policy: SessionPolicy;

  constructor(
    policy: Partial<SessionPolicy> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.policy = { ...DEFAULT_SESSIONS, ...policy };
  }

  // Opens a session for a user who has just logged in.
  create(user: string): Session {
    const now = this.now();
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      user,
      csrf: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeen: now,
    };
    this.sessions.set(session.id, session);
    while (this.sessions.size > this.policy.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    return session;
  }

  // The live session with this id (touching it), or undefined when unknown or expired.
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const now = this.now();
    if (now - session.lastSeen > this.policy.idleMs || now - session.createdAt > this.policy.maxAgeMs) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastSeen = now;
    return session;
  }

  // Ends a session (logout).
  delete(id: string): void {
    this.sessions.delete(id);
  }

  // Seconds the cookie may live: the absolute limit (the idle limit is enforced here, not by the browser).
  get cookieMaxAgeSeconds(): number {
    return Math.floor(this.policy.maxAgeMs / 1000);
  }
}

// Reads one cookie from a Cookie header.
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

// The Set-Cookie value for a session (or, with an empty id and max-age 0, the one that clears it).
export function sessionCookie(id: string, maxAgeSeconds: number, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${id}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeSeconds}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}
