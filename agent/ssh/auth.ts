// One connection's login: a known public key first (partial success), then a one-time code by keyboard-interactive.

import type { AuditLog } from '../auth/audit.ts';
import type { Lockout } from '../auth/lockout.ts';
import type { OtpResult, OtpVerifier } from '../auth/otp.ts';
import type { AgentUser } from '../config.ts';
import { fingerprint } from './hostkey.ts';
import {
  type AuthContext,
  type KeyboardAuthContext,
  type ParsedKey,
  type PublicKeyAuthContext,
  parseKey,
} from './ssh2.ts';

// What a connection's login needs: the users, the code checker, the failure counter and the audit trail.
export interface AuthDeps {
  users: AgentUser[];
  otp: OtpVerifier;
  lockout: Lockout;
  audit: AuditLog;
}

// Login requests allowed on one connection before it is closed (OpenSSH's MaxAuthTries is 6).
export const MAX_AUTH_REQUESTS = 12;

// The prompt OpenSSH shows (and hands to SSH_ASKPASS).
export const CODE_PROMPT = 'One-time code: ';

// Parses a user's authorized keys once; a line that does not parse is skipped (and reported by the caller).
export function parseAuthorizedKeys(lines: string[]): { keys: ParsedKey[]; bad: string[] } {
  const keys: ParsedKey[] = [];
  const bad: string[] = [];
  for (const line of lines) {
    const parsed = parseKey(line.trim());
    if (parsed instanceof Error || Array.isArray(parsed)) bad.push(line.slice(0, 40));
    else keys.push(parsed);
  }
  return { keys, bad };
}

// Decides each authentication request of one connection; `user` is set once both factors passed.
export class ConnectionAuth {
  user?: string;
  private keyUser?: string;
  private keyFingerprint?: string;
  // The key the user logged in with, as an OpenSSH line (what `ssh-cert` certifies).
  keyLine?: string;
  private requests = 0;
  private offeredKey = false;
  private lastName?: string;

  constructor(
    private readonly deps: AuthDeps,
    private readonly keys: Map<string, ParsedKey[]>,
    private readonly source: string,
    private readonly hangUp: () => void,
  ) {}

  // Handles one request; every decision on a secret (signature, code) is audited and counted.
  handle(ctx: AuthContext): void {
    this.requests += 1;
    this.lastName = ctx.username;
    if (this.requests > MAX_AUTH_REQUESTS) {
      void this.audit(ctx.username, 'login', 'refused', 'too-many-requests');
      ctx.reject();
      this.hangUp();
      return;
    }
    if (ctx.method === 'publickey') {
      this.publicKey(ctx);
      return;
    }
    if (ctx.method === 'keyboard-interactive') return void this.code(ctx);
    if (ctx.method !== 'none') void this.audit(ctx.username, ctx.method, 'refused', 'method-not-offered');
    ctx.reject(['publickey']);
  }

  // Records a connection that ended without logging in, with the furthest it got (covers clients that offered nothing).
  closed(): void {
    if (this.user !== undefined) return;
    const reason =
      this.keyUser !== undefined ? 'no-code-given' : this.offeredKey ? 'left-after-refusal' : 'no-key-offered';
    void this.audit(this.lastName ?? '', 'disconnect', 'refused', reason);
  }

  private lockKeys(name: string): string[] {
    return [`user:${name}`, `source:${this.source}`];
  }

  // Refuses when the user or the source is backing off or locked out; `reserve` also counts the attempt as a failure
  // until it succeeds.
  private blocked(ctx: AuthContext, action: string, reserve = false): boolean {
    const keys = this.lockKeys(ctx.username);
    const verdict = reserve ? this.deps.lockout.reserve(keys) : this.deps.lockout.check(keys);
    if (verdict.allowed) return false;
    void this.audit(
      ctx.username,
      action,
      'refused',
      `${verdict.locked ? 'locked-out' : 'backing-off'} for ${Math.ceil(verdict.retryAfterMs / 1000)} s`,
    );
    ctx.reject(['publickey']);
    return true;
  }

  private publicKey(ctx: PublicKeyAuthContext): void {
    this.offeredKey = true;
    if (this.blocked(ctx, 'publickey')) return;
    const presented = fingerprint(ctx.key.data);
    const key = (this.keys.get(ctx.username) ?? []).find((k) => k.getPublicSSH().equals(ctx.key.data));
    if (!key) {
      // Offering keys is not guessing a secret, so it is logged but not counted (an agent may hold several keys).
      void this.audit(
        ctx.username,
        'publickey',
        'refused',
        this.keys.has(ctx.username) ? 'key-not-authorized' : 'unknown-user',
        { fingerprint: presented },
      );
      ctx.reject(['publickey']);
      return;
    }
    if (!ctx.signature || !ctx.blob) {
      ctx.accept();
      return;
    }
    if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
      this.deps.lockout.fail(this.lockKeys(ctx.username));
      void this.audit(ctx.username, 'publickey', 'refused', 'bad-signature', { fingerprint: presented });
      ctx.reject(['publickey']);
      return;
    }
    const user = this.deps.users.find((u) => u.name === ctx.username)!;
    if (!user.otp) {
      void this.audit(ctx.username, 'publickey', 'refused', 'no-otp', { fingerprint: presented });
      ctx.reject(['publickey']);
      return;
    }
    this.keyUser = ctx.username;
    this.keyFingerprint = presented;
    this.keyLine = `${ctx.key.algo} ${ctx.key.data.toString('base64')}`;
    void this.audit(ctx.username, 'publickey', 'ok', 'partial: one-time code next', { fingerprint: presented });
    ctx.reject(['keyboard-interactive'], true);
  }

  private async code(ctx: KeyboardAuthContext): Promise<void> {
    if (this.keyUser === undefined || this.keyUser !== ctx.username) {
      void this.audit(ctx.username, 'keyboard-interactive', 'refused', 'publickey-first');
      return ctx.reject(['publickey']);
    }
    if (this.blocked(ctx, 'keyboard-interactive')) return;
    const answers = await new Promise<string[]>((resolve) =>
      ctx.prompt([{ prompt: CODE_PROMPT, echo: false }], 'Multiverse', '', resolve),
    );
    // Counted before the code is checked: connections that all passed the check above while their clients typed stop at
    // the lock-out count.
    if (this.blocked(ctx, 'keyboard-interactive', true)) return;
    const keys = this.lockKeys(ctx.username);
    const [answer] = answers;
    let result: OtpResult;
    try {
      result =
        answers.length === 1 && answer !== undefined
          ? await this.deps.otp.verify(ctx.username, answer)
          : ({ ok: false, reason: 'wrong-code' } as const);
    } catch (error) {
      await this.audit(ctx.username, 'keyboard-interactive', 'error', (error as Error).message);
      return ctx.reject(['keyboard-interactive']);
    }
    if (!result.ok) {
      await this.audit(ctx.username, 'keyboard-interactive', 'refused', result.reason, {
        fingerprint: this.keyFingerprint,
      });
      return ctx.reject(['keyboard-interactive']);
    }
    this.deps.lockout.succeed(keys);
    // No login without its audit line: if the log cannot be written, the door stays shut.
    if (!(await this.audit(ctx.username, 'login', 'ok', undefined, { fingerprint: this.keyFingerprint })))
      return ctx.reject(['keyboard-interactive']);
    this.user = ctx.username;
    ctx.accept();
  }

  // True once the line is on disk; a failed write is reported as false, never thrown into ssh2's event handlers.
  private audit(
    who: string,
    action: string,
    result: 'ok' | 'refused' | 'error',
    reason?: string,
    extra: Record<string, unknown> = {},
  ): Promise<boolean> {
    return this.deps.audit
      .record({ who, source: this.source, action, result, ...(reason ? { reason } : {}), ...extra })
      .then(
        () => true,
        () => false,
      );
  }
}
