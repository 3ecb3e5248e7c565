// Durability for atomic writes: a file's bytes, or a rename in a folder, survive a crash only once fsync'd.
import { open } from 'node:fs/promises';

// fsyncs a file or a folder by path (a rename is durable once the folder holding the new name is synced).
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
