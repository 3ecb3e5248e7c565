// The audit trail: one JSON line per login attempt and command, appended and fsync'd in stateDir/audit.log.
import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';

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

// Field names never written, at any depth: a code, password or secret must not reach the log even by mistake.
const FORBIDDEN = /code|pass|secret|otp|token|response|key$|^key|answer/i;

// Copies a value without credential-named fields; `who`, `action` and the like pass, `code`, `otpCode`, `password` do not.
export function scrub(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(scrub);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) if (!FORBIDDEN.test(name)) out[name] = scrub(field);
  return out;
}

// Appends audit lines durably, one write at a time, in the order they were recorded; the file is open only while writing.
export class AuditLog {
  readonly file: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(stateDir: string, private readonly now: () => Date = () => new Date()) {
    this.file = join(stateDir, 'audit.log');
  }

  // Writes one entry with its time; resolves once it is on disk.
  record(entry: AuditEntry): Promise<void> {
    const line = `${JSON.stringify({ time: this.now().toISOString(), ...(scrub(entry) as object) })}\n`;
    const run = this.queue.then(async () => {
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      const handle = await open(this.file, 'a', 0o600);
      try {
        await handle.appendFile(line);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  // Resolves once every line recorded so far is written.
  async close(): Promise<void> {
    await this.queue;
  }
}
