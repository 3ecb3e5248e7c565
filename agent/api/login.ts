// Logging in over TCP: rate limit, hash queue, password (scrypt), then one-time code; every attempt audited, the reason
// never told.
import { hashPassword, verifyPassword } from '../../common/secrets/password.ts';
import type { AuditLog } from '../auth/audit.ts';
import type { HashQueue } from '../auth/hash-queue.ts';
import type { Lockout } from '../auth/lockout.ts';
import type { OtpVerifier } from '../auth/otp.ts';
import type { AgentUser } from '../config.ts';
import type { Session, SessionStore } from './sessions.ts';

// What the login endpoint needs; built once by the server from host config and state dir.
export interface LoginDeps {
  users: AgentUser[];
  otp: OtpVerifier;
  lockout: Lockout;
  audit: AuditLog;
  sessions: SessionStore;
  // Where password hashes wait their turn; a full queue is a 429 before any hashing.
  queue: HashQueue;
}

// A login's outcome: a new session, or a refusal the client sees only as its status (and how long to wait); `busy`: the
// hash queue was full.
export type LoginOutcome =
  | { ok: true; session: Session }
  | { ok: false; status: 401 | 429; retryAfterMs: number; busy?: boolean };

// What a client sends to log in.
export interface Credentials {
  user: string;
  password: string;
  code: string;
}

// Checks credentials in an order that leaks nothing: unknown users cost a scrypt too, codes are checked only after the
// password.
export class LoginService {
  private decoy?: Promise<string>;

  constructor(private readonly deps: LoginDeps) {}

  async attempt(credentials: Credentials, source: string): Promise<LoginOutcome> {
    const { lockout, audit, queue } = this.deps;
    const keys = [`user:${credentials.user}`, `source:${source}`];
    const verdict = lockout.check(keys);
    const base = { who: credentials.user, source, action: 'login' };
    if (!verdict.allowed) {
      await audit.record({ ...base, result: 'refused', reason: verdict.locked ? 'locked-out' : 'rate-limited' });
      return { ok: false, status: 429, retryAfterMs: verdict.retryAfterMs };
    }
    const hashing = queue.tryRun(() => this.check(credentials));
    // Refused while the queue is full, and not counted: the guess was never looked at.
    if (!hashing) {
      await audit.record({ ...base, result: 'refused', reason: 'busy' });
      return { ok: false, status: 429, retryAfterMs: queue.retryAfterMs(), busy: true };
    }
    // Counted as a failure now, in the same turn as the check above, and cleared on success: parallel guesses stop at
    // the lock-out count.
    lockout.reserve(keys);
    const reason = await hashing;
    if (reason) {
      await audit.record({ ...base, result: 'refused', reason });
      return { ok: false, status: 401, retryAfterMs: lockout.check(keys).retryAfterMs };
    }
    lockout.succeed(keys);
    const session = this.deps.sessions.create(credentials.user);
    await audit.record({ ...base, result: 'ok' });
    return { ok: true, session };
  }

  // Undefined when every factor holds, else why not (for the audit log only).
  private async check({ user, password, code }: Credentials): Promise<string | undefined> {
    const known = this.deps.users.find((u) => u.name === user);
    const stored = known?.passwordHash ?? (await this.decoyHash());
    const passwordOk = await verifyPassword(stored, password);
    if (!known) return 'unknown-user';
    if (!known.passwordHash) return 'no-password';
    if (!passwordOk) return 'wrong-password';
    const otp = await this.deps.otp.verify(user, code);
    return otp.ok ? undefined : otp.reason;
  }

  // Made on first need and kept: a user without a hash costs the same scrypt as a wrong password.
  private decoyHash(): Promise<string> {
    this.decoy ??= hashPassword('decoy password for unknown users');
    return this.decoy;
  }
}
