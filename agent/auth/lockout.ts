// Failed logins slow down, then stop: per key (`user:alice`, `source:1.2.3.4`), with back-off, a lock-out and expiry.
// Tunables; the defaults fit an interactive login (a person mistyping a code a few times is never locked out for long).
export interface LockoutPolicy {
  // Failures allowed before any delay.
  freeFailures: number;
  // Delay after the first counted failure; doubles with each further one.
  baseDelayMs: number;
  maxDelayMs: number;
  // Failures that lock the key out for lockMs.
  lockAfter: number;
  lockMs: number;
  // A key's failures are forgotten this long after its last failure (or when its lock-out ends).
  forgetMs: number;
  // Most keys remembered; the stalest are dropped first, so a flood of sources cannot grow memory without bound.
  maxKeys: number;
}

// The defaults: 3 free failures, then 1 s, 2 s, 4 s… up to 60 s, locked for 15 min at 10 failures.
export const DEFAULT_LOCKOUT: LockoutPolicy = {
  freeFailures: 3,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  lockAfter: 10,
  lockMs: 15 * 60_000,
  forgetMs: 15 * 60_000,
  maxKeys: 10_000,
};

// Whether an attempt may go ahead now, and if not, how long to wait.
export interface LockoutVerdict {
  allowed: boolean;
  retryAfterMs: number;
  locked: boolean;
}

interface Entry {
  failures: number;
  lastFailure: number;
  until: number;
  lockedUntil?: number;
}

// Counts failures in memory per key; a restart forgets them (the one-time code, not the counter, is the persisted
// defence).
export class Lockout {
  private readonly entries = new Map<string, Entry>();
  private readonly policy: LockoutPolicy;

  constructor(
    policy: Partial<LockoutPolicy> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.policy = { ...DEFAULT_LOCKOUT, ...policy };
  }

  // Whether every key may try now; the longest wait of any key wins.
  check(keys: string[]): LockoutVerdict {
    const now = this.now();
    let retryAfterMs = 0;
    let locked = false;
    for (const key of keys) {
      const entry = this.current(key, now);
      if (!entry) continue;
      retryAfterMs = Math.max(retryAfterMs, entry.until - now);
      if (entry.lockedUntil !== undefined && entry.lockedUntil > now) locked = true;
    }
    return { allowed: retryAfterMs <= 0, retryAfterMs: Math.max(0, retryAfterMs), locked };
  }

  // Checks and, when allowed, counts the attempt as a failure at once; succeed() clears it. Checking first and counting
  // after the slow verification let parallel attempts all pass the check; counted up front, they stop at the lock-out
  // count.
  reserve(keys: string[]): LockoutVerdict {
    const verdict = this.check(keys);
    if (verdict.allowed) this.fail(keys);
    return verdict;
  }

  // Counts one failure against every key.
  fail(keys: string[]): void {
    const now = this.now();
    for (const key of keys) {
      const entry = this.current(key, now) ?? { failures: 0, lastFailure: now, until: now };
      entry.failures += 1;
      entry.lastFailure = now;
      const counted = entry.failures - this.policy.freeFailures;
      const delay = counted <= 0 ? 0 : Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (counted - 1));
      entry.until = Math.max(entry.until, now + delay);
      if (entry.failures >= this.policy.lockAfter) {
        entry.lockedUntil = now + this.policy.lockMs;
        entry.until = Math.max(entry.until, entry.lockedUntil);
      }
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    while (this.entries.size > this.policy.maxKeys) this.entries.delete(this.entries.keys().next().value!);
  }

  // Clears the keys after a full success.
  succeed(keys: string[]): void {
    for (const key of keys) this.entries.delete(key);
  }

  // The entry of a key, or undefined once it has expired (a finished lock-out starts the count afresh).
  private current(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const lockOver = entry.lockedUntil !== undefined && entry.lockedUntil <= now;
    if (lockOver || now - Math.max(entry.lastFailure, entry.until) >= this.policy.forgetMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }
}
