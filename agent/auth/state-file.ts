// Small state files that must survive a crash whole; the atomic write is shared with the builder's secret store.
import { readFile } from 'node:fs/promises';

// The atomic write, shared with the builder.
export { writeFileAtomic } from '../../common/atomic-write.ts';

// Reads a JSON state file; a missing file is the fallback, a corrupt one an error (never silently reset security state).
export async function readJsonState<T>(file: string, fallback: T): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`the state file ${file} is not valid JSON: ${(error as Error).message}`);
  }
}
