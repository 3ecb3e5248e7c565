// Files that must survive a crash whole (secrets, records, lockfiles): written under a temporary name beside them,
// fsync'd, renamed over, folder fsync'd.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncPath } from './fsync.ts';

// How a file is replaced.
export interface AtomicWriteOptions {
  // The new file's permission bits (the umask still applies); 0o600 unless said, as most such files are private.
  mode?: number;
  // false skips the fsyncs, for files rewritten often whose loss in a crash costs nothing (status, a read position).
  durable?: boolean;
  // Where the new bytes go first (on the file's file system); a fresh hidden name beside the file unless said.
  temp?: string;
}

// A temporary name no other writer uses: two writes of one file at once each rename their own whole file.
function tempBeside(file: string): string {
  return join(dirname(file), `.${randomBytes(6).toString('hex')}.tmp`);
}

// Replaces file with what fill writes at the temporary path it is given: a reader sees the old file or the new one,
// never a mix.
export async function replaceFileAtomic(
  file: string,
  fill: (temp: string) => Promise<void>,
  options: Omit<AtomicWriteOptions, 'mode'> = {},
): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = options.temp ?? tempBeside(file);
  const durable = options.durable ?? true;
  try {
    await fill(temp);
    if (durable) await fsyncPath(temp);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  if (durable) await fsyncPath(dir);
}

// Replaces file with data atomically and, unless options.durable is false, durably.
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await replaceFileAtomic(
    file,
    async (temp) => {
      const handle = await open(temp, 'wx', options.mode ?? 0o600);
      try {
        await handle.writeFile(data);
      } finally {
        await handle.close();
      }
    },
    options,
  );
}
