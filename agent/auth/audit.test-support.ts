// Test support: what an audit log wrote, read back line by line.
import { readFile } from 'node:fs/promises';
import type { AuditEntry, AuditLog } from './audit.ts';

// An audit line as written: one entry, or a `repeated: N` line that stands for N more like it.
export type Written = AuditEntry & { repeated?: number };

// Closes the log, so that every line it took is on disk, and parses what it wrote.
export async function writtenLines(log: AuditLog): Promise<Written[]> {
  await log.close();
  return (await readFile(log.file, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
}

// Events of a kind: a line is one event, a `repeated: N` line stands for N more.
export function tally(lines: Written[], match: (line: Written) => boolean): number {
  return lines.filter(match).reduce((sum, line) => sum + (line.repeated ?? 1), 0);
}
