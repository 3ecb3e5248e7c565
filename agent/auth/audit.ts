// The audit trail: one JSON line per login attempt and command, appended and fsync'd in stateDir/audit.log (rotated by
// size). Refusals are rate-limited and identical ones counted, fields are cut to length: unauthenticated traffic cannot
// fill the disk.
import { join } from 'node:path';
import type { AuditStats } from '../../common/api-types.ts';
import { SerialQueue } from '../../common/serial-queue.ts';
import { DEFAULT_ROTATION, RotatingFile, type RotationPolicy } from './audit-file.ts';
import { AuditLimiter, type AuditLimitPolicy, DEFAULT_AUDIT_LIMIT } from './audit-limit.ts';
import { sourceOf } from './connections.ts';

// One audited event; extra fields are allowed, but any whose name smells of a credential is dropped before writing.
export interface AuditEntry {
  who: string;
  source: string;
  action: string;
  target?: string;
  result: 'ok' | 'refused' | 'error';
  reason?: string;
  [field: string]: unknown;
}

// Everything that bounds the log: the refusal limits, the rotation, and the longest string field.
export interface AuditPolicy extends AuditLimitPolicy, RotationPolicy {
  maxFieldChars: number;
}

// The defaults of each part; strings are cut at 512 characters (user names, commands and reasons are far shorter).
export const DEFAULT_AUDIT: AuditPolicy = { ...DEFAULT_AUDIT_LIMIT, ...DEFAULT_ROTATION, maxFieldChars: 512 };

// Field names never written, at any depth: a code, password or secret must not reach the log even by mistake.
const FORBIDDEN = /code|pass|secret|otp|token|response|key$|^key|answer/i;

// Copies a value without credential-named fields; `who`, `action` and the like pass, `code`, `otpCode`, `password` do
// not.
export function scrub(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(scrub);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) if (!FORBIDDEN.test(name)) out[name] = scrub(field);
  return out;
}

// Copies a value with every string cut to `max` characters, saying how many were cut (user names and commands come from
// clients).
export function clip(value: unknown, max: number): unknown {
  if (typeof value === 'string')
    return value.length > max ? `${value.slice(0, max)}…[${value.length - max} more]` : value;
  if (Array.isArray(value)) return value.map((v) => clip(v, max));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([name, field]) => [name, clip(field, max)]));
}

// Appends audit lines durably, one write at a time, in the order they were recorded; the file is open only while
// writing.
export class AuditLog {
  readonly file: string;
  private readonly writes = new SerialQueue();
  private readonly policy: AuditPolicy;
  private readonly out: RotatingFile;
  private readonly limiter: AuditLimiter;
  private readonly listeners: Array<() => void> = [];
  private readonly refusalListeners: Array<(entry: AuditEntry) => void> = [];
  private written = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    stateDir: string,
    private readonly now: () => Date = () => new Date(),
    policy: Partial<AuditPolicy> = {},
  ) {
    this.policy = { ...DEFAULT_AUDIT, ...policy };
    this.file = join(stateDir, 'audit.log');
    this.out = new RotatingFile(this.file, this.policy);
    this.limiter = new AuditLimiter(this.policy, () => this.now().getTime());
  }

  // Writes one entry with its time; resolves once it is on disk, or at once when the entry was counted or dropped
  // instead.
  record(entry: AuditEntry): Promise<void> {
    const clean = clip(scrub(entry), this.policy.maxFieldChars) as AuditEntry;
    if (clean.result === 'refused') for (const listener of this.refusalListeners) listener(clean);
    const due = this.limiter.due();
    const verdict =
      entry.result === 'ok' ? 'write' : this.limiter.admit(JSON.stringify(clean), sourceOf(clean.source), clean);
    const run = this.write(verdict === 'write' ? [...due, clean] : due);
    if (verdict !== 'write') {
      run.catch(() => undefined);
      this.schedule();
      return Promise.resolve();
    }
    return run;
  }

  // Writes the pending `repeated` and `dropped` lines now and resolves once every line recorded so far is written.
  async flush(): Promise<void> {
    void this.write(this.limiter.due(true)).catch(() => undefined);
    await this.writes.settled();
  }

  // The same as flush(); the log stays usable (tests read it between steps).
  close(): Promise<void> {
    return this.flush();
  }

  // Counts for status.
  stats(): AuditStats {
    return { written: this.written, rotations: this.out.rotations, ...this.limiter.stats() };
  }

  // Calls the listener after a `repeated` or `dropped` line is written (at most about once a window), so status can be
  // refreshed.
  onSummary(listener: () => void): void {
    this.listeners.push(listener);
  }

  // Calls the listener with every refused entry as it is recorded, before the limits (it must be cheap and bounded).
  onRefusal(listener: (entry: AuditEntry) => void): void {
    this.refusalListeners.push(listener);
  }

  private write(entries: Array<Record<string, unknown>>): Promise<void> {
    if (entries.length === 0) return this.writes.settled();
    const time = this.now().toISOString();
    const lines = entries.map((e) => `${JSON.stringify({ time, ...e })}\n`);
    const summary = entries.some((e) => e.repeated !== undefined || e.dropped !== undefined);
    return this.writes.run(async () => {
      await this.out.append(lines);
      this.written += lines.length;
      if (summary) for (const listener of this.listeners) listener();
    });
  }

  // Summaries are written when their window ends even if nothing else is recorded; the timer never keeps the process
  // up.
  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write(this.limiter.due()).catch(() => undefined);
      if (this.limiter.waiting) this.schedule();
    }, this.policy.repeatWindowMs);
    this.timer.unref();
  }
}
