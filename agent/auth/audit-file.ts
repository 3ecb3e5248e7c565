// The audit log on disk: lines appended and fsync'd, the file rotated by size (audit.log.1 … .N), the oldest deleted.
import { type FileHandle, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

// How big the log may grow: keepFiles old files of at most maxBytes each, plus the current one.
export interface RotationPolicy {
  maxBytes: number;
  keepFiles: number;
}

// The defaults: 8 MiB files, 4 kept, so at most 40 MiB of audit on the state disk.
export const DEFAULT_ROTATION: RotationPolicy = { maxBytes: 8 * 1024 * 1024, keepFiles: 4 };

async function sizeOf(file: string): Promise<number> {
  try {
    const info = await stat(file);
    return info.isFile() ? info.size : 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

async function renameIfThere(from: string, to: string): Promise<void> {
  await rename(from, to).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

// One file of appended lines; callers run append() one at a time (the audit log queues them).
export class RotatingFile {
  // Times the file was rotated since start.
  rotations = 0;
  private size?: number;

  constructor(
    readonly file: string,
    private readonly policy: RotationPolicy = DEFAULT_ROTATION,
  ) {}

  // Appends the lines (each ending in a newline) and fsyncs; rotates first whenever the next line would pass maxBytes.
  async append(lines: string[]): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    let handle: FileHandle | undefined;
    try {
      this.size ??= await sizeOf(this.file);
      handle = await open(this.file, 'a', 0o600);
      for (const line of lines) {
        const bytes = Buffer.byteLength(line);
        if (this.size > 0 && this.size + bytes > this.policy.maxBytes) {
          await handle.sync();
          await handle.close();
          handle = undefined;
          await this.rotate();
          handle = await open(this.file, 'a', 0o600);
          this.size = 0;
        }
        await handle.appendFile(line);
        this.size += bytes;
      }
      await handle.sync();
    } catch (error) {
      // Measure again next time: a failed write leaves the size unknown.
      this.size = undefined;
      throw error;
    } finally {
      await handle?.close();
    }
  }

  private async rotate(): Promise<void> {
    const { keepFiles } = this.policy;
    for (let i = keepFiles - 1; i >= 1; i--) await renameIfThere(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    if (keepFiles >= 1) await renameIfThere(this.file, `${this.file}.1`);
    else await unlink(this.file).catch(() => undefined);
    this.rotations += 1;
  }
}
