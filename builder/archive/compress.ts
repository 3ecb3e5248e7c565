// Deterministic compression of finished archives: gzip in-process, zstd through the zstd tool.
import { availableParallelism } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import { FailureError, UserError } from '../../common/errors.ts';
import { spawnTool } from '../../common/exec.ts';

// How an archive is compressed.
export type Compression = 'zstd' | 'gzip' | 'none';

const ZSTD = '/usr/bin/zstd';
// RFC 1952 byte 9: the OS that wrote the stream; zlib writes a platform-dependent value, so it is pinned to Unix.
const GZIP_OS_OFFSET = 9;
const GZIP_OS_UNIX = 3;
// zstd 12 is within about 11% of level 19's size at a tenth of its time (measured on the host initramfs); recipes may
// ask for 19.
export const DEFAULT_LEVEL: Record<Exclude<Compression, 'none'>, number> = { gzip: 9, zstd: 12 };
const MAX_LEVEL: Record<Exclude<Compression, 'none'>, number> = { gzip: 9, zstd: 22 };

// Compresses a buffer; the same input, method and level give the same bytes (gzip: mtime 0, no name, OS Unix; zstd: no
// --long,
// worker threads in zstd's multithreaded mode, whose output does not depend on how many workers run).
export async function compress(buf: Buffer, method: Compression, level?: number): Promise<Buffer> {
  if (method === 'none') return buf;
  const chosen = checkedLevel(method, level);
  if (method === 'gzip') {
    const out = gzipSync(buf, { level: chosen });
    out[GZIP_OS_OFFSET] = GZIP_OS_UNIX;
    return out;
  }
  // --long would raise the window past what fits early-boot memory; levels up to 19 keep it at 8 MiB or less, 20-22
  // (--ultra) at most 128 MiB, the kernel's limit.
  const args = ['-q', '-c', `-T${Math.min(4, availableParallelism())}`, '--no-progress', `-${chosen}`];
  if (chosen > 19) args.unshift('--ultra');
  return await runZstd(args, buf);
}

// Reverses compress (also used to read back archives in tests and checks).
export async function decompress(buf: Buffer, method: Compression): Promise<Buffer> {
  if (method === 'none') return buf;
  if (method === 'gzip') {
    try {
      return gunzipSync(buf);
    } catch (error) {
      throw new FailureError(`cannot gunzip ${buf.length} bytes: ${(error as Error).message}`, { cause: error });
    }
  }
  return await runZstd(['-d', '-q', '-c', '--no-progress'], buf);
}

function checkedLevel(method: Exclude<Compression, 'none'>, level: number | undefined): number {
  const chosen = level ?? DEFAULT_LEVEL[method];
  if (!Number.isInteger(chosen) || chosen < 1 || chosen > MAX_LEVEL[method]) {
    throw new UserError(`${method} level ${level} is out of range`, {
      hint: `use a whole number from 1 to ${MAX_LEVEL[method]} (default ${DEFAULT_LEVEL[method]})`,
    });
  }
  return chosen;
}

// runTool decodes stdout as UTF-8, which would corrupt binary output; the bytes are collected here instead.
async function runZstd(args: string[], input: Buffer): Promise<Buffer> {
  const child = spawnTool(ZSTD, args, { input, stdout: 'pipe', stderr: 'pipe' });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
  try {
    await child;
  } catch (error) {
    const e = error as { code?: string; exitCode?: number };
    const stderr = Buffer.concat(err).toString('utf8').trim();
    throw new FailureError(
      `${ZSTD} ${args.join(' ')}: ${e.exitCode !== undefined ? `exited with ${e.exitCode}` : 'could not start'}\n${stderr}`.trim(),
      {
        cause: error,
        hint: e.code === 'ENOENT' ? 'zstd is not installed: run `apt-get install zstd`' : undefined,
      },
    );
  }
  return Buffer.concat(out);
}
