// Files that may not be there yet: a missing file is an answer (it does not exist, the default), any other failure an
// error.
import { access, readFile } from 'node:fs/promises';

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

// Whether path can be reached (a file, folder or device); false for a dangling link, or where a folder on the way is
// closed.
export async function pathExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

// The file's text; undefined when there is no such file, other read errors thrown.
export async function readTextIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

// The file's JSON; fallback when there is no such file, an error naming the file when it is not JSON (never a silent
// reset).
export async function readJsonOr<T>(file: string, fallback: T): Promise<T> {
  const text = await readTextIfExists(file);
  if (text === undefined) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}
