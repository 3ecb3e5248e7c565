// Which refusals reach the audit log: identical ones a few times per window then counted, and a rate budget per source
// and overall. Without it one unauthenticated client wrote 450 KiB/s; successes never pass through here and are always
// written.
import type { AuditStats } from '../../common/api-types.ts';

// The knobs; times in milliseconds.
export interface AuditLimitPolicy {
  // Identical events written per window; the rest are counted into one `repeated: N` line when the window ends.
  repeatBurst: number;
  repeatWindowMs: number;
  // Token buckets: lines per second (and burst) for one source, and for all sources together.
  perSourcePerSecond: number;
  perSourceBurst: number;
  perSecond: number;
  burst: number;
  // Distinct events and sources remembered; the stalest go first, so a flood of variety cannot grow memory.
  maxKeys: number;
}

// The defaults: 5 identical per minute; 1 line/s per source (30 at once); 10 lines/s overall (200 at once).
export const DEFAULT_AUDIT_LIMIT: AuditLimitPolicy = {
  repeatBurst: 5,
  repeatWindowMs: 60_000,
  perSourcePerSecond: 1,
  perSourceBurst: 30,
  perSecond: 10,
  burst: 200,
  maxKeys: 1000,
};

// What became of one event.
export type AuditVerdict = 'write' | 'suppressed' | 'dropped';

// A line the limiter asks to be written: a `repeated` summary or a `dropped` notice (the caller adds the time).
export type DueLine = Record<string, unknown>;

// Counts so far; status shows them (with the log's own counts).
export type AuditLimitStats = Omit<AuditStats, 'written' | 'rotations'>;

interface Repeat {
  line: Record<string, unknown>;
  windowStart: number;
  count: number;
  // Whether the event itself is in the log; repeats of one that is not are dropped, not summarized (so summaries stay
  // within the budget).
  written: boolean;
  suppressed: number;
  firstRepeat: number;
  lastRepeat: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

// The limiter's memory of recent events and budgets; its clock is the audit log's.
export class AuditLimiter {
  private readonly policy: AuditLimitPolicy;
  private readonly repeats = new Map<string, Repeat>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly global: Bucket;
  private readonly pending: DueLine[] = [];
  private suppressedTotal = 0;
  private droppedTotal = 0;
  private droppedSinceNotice = 0;
  private noticeDueAt = 0;
  private firstDropped?: number;
  private lastDropped?: number;

  constructor(
    policy: Partial<AuditLimitPolicy>,
    private readonly now: () => number,
  ) {
    this.policy = { ...DEFAULT_AUDIT_LIMIT, ...policy };
    this.global = { tokens: this.policy.burst, at: now() };
  }

  // Decides one refusal or error; `key` identifies identical events, `source` the budget it draws on.
  admit(key: string, source: string, line: Record<string, unknown>): AuditVerdict {
    const now = this.now();
    let repeat = this.repeats.get(key);
    if (!repeat) {
      repeat = { line, windowStart: now, count: 0, written: false, suppressed: 0, firstRepeat: now, lastRepeat: now };
      this.repeats.set(key, repeat);
      if (this.repeats.size > this.policy.maxKeys) this.retire(this.repeats.keys().next().value!);
    }
    repeat.count += 1;
    if (repeat.count > this.policy.repeatBurst) {
      if (!repeat.written) return this.drop(now);
      if (repeat.suppressed === 0) repeat.firstRepeat = now;
      repeat.suppressed += 1;
      repeat.lastRepeat = now;
      this.suppressedTotal += 1;
      return 'suppressed';
    }
    if (!this.take(source, now)) return this.drop(now);
    repeat.written = true;
    return 'write';
  }

  // Lines due now: summaries of ended windows and, once per window, a notice of dropped lines; `all` takes everything
  // pending.
  due(all = false): DueLine[] {
    const now = this.now();
    for (const [key, repeat] of this.repeats) {
      if (!all && repeat.windowStart + this.policy.repeatWindowMs > now) break;
      if (all) this.summarize(repeat);
      else this.retire(key);
    }
    if (this.droppedSinceNotice > 0 && (all || now >= this.noticeDueAt)) {
      this.pending.push({
        who: '',
        source: '',
        action: 'audit',
        result: 'error',
        reason: 'rate limit: entries not written',
        dropped: this.droppedSinceNotice,
        firstDropped: iso(this.firstDropped!),
        lastDropped: iso(this.lastDropped!),
      });
      this.droppedSinceNotice = 0;
      this.noticeDueAt = now + this.policy.repeatWindowMs;
    }
    return this.pending.splice(0);
  }

  // Whether anything is waiting to be summarized (the log then keeps a timer).
  get waiting(): boolean {
    return this.droppedSinceNotice > 0 || [...this.repeats.values()].some((r) => r.suppressed > 0);
  }

  // Totals since start, pending repeats included.
  stats(): AuditLimitStats {
    return {
      suppressed: this.suppressedTotal,
      dropped: this.droppedTotal,
      ...(this.firstDropped !== undefined
        ? { firstDroppedAt: iso(this.firstDropped), lastDroppedAt: iso(this.lastDropped!) }
        : {}),
    };
  }

  private summarize(repeat: Repeat): void {
    if (repeat.suppressed === 0) return;
    this.pending.push({
      ...repeat.line,
      repeated: repeat.suppressed,
      firstRepeat: iso(repeat.firstRepeat),
      lastRepeat: iso(repeat.lastRepeat),
    });
    repeat.suppressed = 0;
  }

  private retire(key: string): void {
    this.summarize(this.repeats.get(key)!);
    this.repeats.delete(key);
  }

  private drop(now: number): AuditVerdict {
    if (this.droppedSinceNotice === 0 && now >= this.noticeDueAt) this.noticeDueAt = now + this.policy.repeatWindowMs;
    this.droppedTotal += 1;
    this.droppedSinceNotice += 1;
    this.firstDropped ??= now;
    this.lastDropped = now;
    return 'dropped';
  }

  // Takes a token from the source's bucket and the global one, or neither.
  private take(source: string, now: number): boolean {
    const bucket = this.buckets.get(source) ?? { tokens: this.policy.perSourceBurst, at: now };
    this.buckets.delete(source);
    this.buckets.set(source, bucket);
    if (this.buckets.size > this.policy.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    refill(bucket, now, this.policy.perSourcePerSecond, this.policy.perSourceBurst);
    refill(this.global, now, this.policy.perSecond, this.policy.burst);
    if (bucket.tokens < 1 || this.global.tokens < 1) return false;
    bucket.tokens -= 1;
    this.global.tokens -= 1;
    return true;
  }
}

function refill(bucket: Bucket, now: number, perSecond: number, burst: number): void {
  bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * perSecond);
  bucket.at = now;
}
