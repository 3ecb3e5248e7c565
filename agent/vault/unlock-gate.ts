// Unlock attempts, bounded before the slow check: one at a time, and after a few failures in a row each next try waits
// twice as long as the one before (up to a cap), so a passphrase cannot be guessed at scrypt's speed through the agent.
import { ControlError } from '../controls.ts';

// How many failures are free, the first wait after them, and the longest.
export interface UnlockPolicy {
  freeFailures: number;
  firstWaitMs: number;
  maxWaitMs: number;
}

const DEFAULT_POLICY: UnlockPolicy = { freeFailures: 5, firstWaitMs: 1000, maxWaitMs: 15 * 60_000 };

// One attempt in progress: it ends as one or the other.
export interface UnlockAttempt {
  succeeded(): void;
  failed(): void;
}

// The gate every unlock passes.
export class UnlockGate {
  private readonly policy: UnlockPolicy;
  private busy = false;
  private failed = 0;
  private lastFailureAt = 0;

  constructor(
    policy: Partial<UnlockPolicy> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.policy = { ...DEFAULT_POLICY, ...policy };
  }

  get failures(): number {
    return this.failed;
  }

  // Seconds until the next attempt is taken (0: now).
  waitSeconds(): number {
    const over = this.failed - this.policy.freeFailures;
    if (over < 0) return 0;
    const wait = Math.min(this.policy.maxWaitMs, this.policy.firstWaitMs * 2 ** over);
    return Math.max(0, Math.ceil((this.lastFailureAt + wait - this.now()) / 1000));
  }

  // Takes an attempt or refuses it at once; a taken attempt counts as failed until it says otherwise, so a crash or a
  // dropped connection in the middle still counts.
  begin(): UnlockAttempt {
    if (this.busy) throw new ControlError('limited', 'another unlock attempt is in progress');
    const wait = this.waitSeconds();
    if (wait > 0)
      throw new ControlError('limited', `${this.failed} failed unlock attempts in a row: try again in ${wait} s`);
    this.busy = true;
    this.failed += 1;
    this.lastFailureAt = this.now();
    let done = false;
    const end = (ok: boolean): void => {
      if (done) return;
      done = true;
      this.busy = false;
      if (ok) this.failed = 0;
      else this.lastFailureAt = this.now();
    };
    return { succeeded: () => end(true), failed: () => end(false) };
  }
}
