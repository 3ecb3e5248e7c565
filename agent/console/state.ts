// Where a VM's console reader stands, on disk: a restarted agent goes on from there instead of reading the spool again.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import type { LogPlace } from './log.ts';

// The spool file read (its identity) and how far, and where the log's files sit in the stream.
export interface ConsoleState extends LogPlace {
  id: string;
  spool: number;
}

function valid(value: unknown): value is ConsoleState {
  const s = value as ConsoleState;
  const offset = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
  return (
    typeof s?.id === 'string' &&
    offset(s.spool) &&
    offset(s.base) &&
    offset(s.end) &&
    s.base <= s.end &&
    (s.base1 === null || (offset(s.base1) && s.base1 <= s.base))
  );
}

// The saved state; undefined when there is none or it is unreadable (the reader starts over then).
export async function readConsoleState(file: string): Promise<ConsoleState | undefined> {
  const parsed = await readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as unknown,
    () => undefined,
  );
  return valid(parsed) ? parsed : undefined;
}

// Writes atomically, so a killed agent leaves the old state or the new one; not fsync'd: saved each second while output
// flows, a lost one costs a re-read of the spool.
export async function writeConsoleState(file: string, state: ConsoleState): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state)}\n`, { mode: 0o600, durable: false });
}
