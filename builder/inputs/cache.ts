// Content-addressed cache: blobs named by their sha256, written by atomic rename, verified on every read.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { FailureError } from '../../common/errors.ts';
import { readTextIfExists } from '../../common/files.ts';
import { fsyncPath } from '../../common/fsync.ts';
import { writeSparse } from '../../common/sparse-write.ts';

// What a caller may say about a blob it is storing.
export interface PutOptions {
  // The pinned hash; a blob that hashes differently is refused and nothing is kept.
  expectedSha256?: string;
  // Names the input in error messages (a package name, a file name).
  label?: string;
}

// The hash and byte count of a stored blob.
export interface PutResult {
  sha256: string;
  size: number;
}

const SHA256 = /^[0-9a-f]{64}$/;
// Past this age a temp file is stale even if a process with its writer's pid runs: pids get reused.
const TEMP_GRACE_MS = 24 * 60 * 60 * 1000;
const VERIFY_HINT =
  'run `mvos cache verify` to find every damaged entry, then `mvos cache gc` or delete the file so it is fetched again';

// A cache directory holding blobs under blobs/sha256/, in-flight writes under tmp/ and stage keys under keys/.
export class ContentCache {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  // The cache the user configured: $MVOS_CACHE, else $XDG_CACHE_HOME/mvos, else ~/.cache/mvos.
  static fromEnvironment(env: NodeJS.ProcessEnv = process.env): ContentCache {
    if (env.MVOS_CACHE) return new ContentCache(env.MVOS_CACHE);
    if (env.XDG_CACHE_HOME) return new ContentCache(join(env.XDG_CACHE_HOME, 'mvos'));
    return new ContentCache(join(env.HOME || homedir(), '.cache', 'mvos'));
  }

  // Where the blob with this hash lives (whether or not it is there yet).
  path(sha256: string): string {
    checkSha256(sha256);
    return join(this.root, 'blobs', 'sha256', sha256.slice(0, 2), sha256);
  }

  // Whether a blob with this hash is stored; says nothing about its integrity (read() checks that).
  has(sha256: string): boolean {
    return existsSync(this.path(sha256));
  }

  // Stores a stream, hashing as it is written; the blob appears under its name only once complete and verified.
  async putStream(
    source: Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: PutOptions = {},
  ): Promise<PutResult> {
    if (options.expectedSha256 !== undefined) checkSha256(options.expectedSha256);
    const temp = await this.tempFile();
    const hash = createHash('sha256');
    let size = 0;
    try {
      const file = await open(temp, 'wx', 0o644);
      try {
        for await (const chunk of source) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          hash.update(bytes);
          await writeSparse(file, bytes, size);
          size += bytes.byteLength;
        }
        await file.truncate(size);
        await file.sync();
      } finally {
        await file.close();
      }
      const sha256 = hash.digest('hex');
      if (options.expectedSha256 !== undefined && sha256 !== options.expectedSha256) {
        throw new FailureError(
          `${options.label ?? 'input'} does not match its pinned hash: expected sha256 ${options.expectedSha256}, got ${sha256}`,
          {
            hint:
              'the source served different bytes than the lockfile pins; if the change is intended, update the ' +
              'lock',
          },
        );
      }
      const final = this.path(sha256);
      await mkdir(join(final, '..'), { recursive: true });
      await rename(temp, final);
      await fsyncPath(join(final, '..'));
      return { sha256, size };
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  // Stores a buffer, with the same guarantees as putStream.
  async putBuffer(buffer: Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    return this.putStream([buffer], options);
  }

  // Reads a whole blob and refuses it if its content no longer matches its name.
  async read(sha256: string, label: string): Promise<Buffer> {
    const path = this.path(sha256);
    let content: Buffer;
    try {
      content = await readFile(path);
    } catch (error) {
      throw missingError(error, sha256, label);
    }
    const actual = createHash('sha256').update(content).digest('hex');
    if (actual !== sha256) throw corruptError(label, sha256, actual);
    await this.touch(sha256);
    return content;
  }

  // Streams a blob, verifying as it flows: the stream errors at its end if the hash differs, so a consumer must not
  // commit anything it derived until the stream has ended without error.
  openRead(sha256: string, label: string): Readable {
    const path = this.path(sha256);
    if (!existsSync(path)) throw missingError(undefined, sha256, label);
    const hash = createHash('sha256');
    const check = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
      flush(done) {
        const actual = hash.digest('hex');
        done(actual === sha256 ? null : corruptError(label, sha256, actual));
      },
    });
    const file = createReadStream(path);
    file.on('error', (error) => check.destroy(missingError(error, sha256, label)));
    check.on('close', () => file.destroy());
    return file.pipe(check);
  }

  // Re-hashes every blob; returns how many were checked and the names of those whose content does not match.
  async verify(): Promise<{ checked: number; corrupt: string[] }> {
    const corrupt: string[] = [];
    let checked = 0;
    for (const { name, path } of await this.listBlobs()) {
      checked++;
      const actual = await hashFile(path);
      if (actual !== name || !path.endsWith(join(name.slice(0, 2), name))) corrupt.push(name);
    }
    return { checked, corrupt: corrupt.sort() };
  }

  // Marks a blob as used now (its mtime), so a size-bounded gc keeps what builds still use.
  async touch(sha256: string): Promise<void> {
    const now = new Date();
    await utimes(this.path(sha256), now, now).catch(() => undefined);
  }

  // Removes every blob not in keep (but the most recently used ones that fit in keepRecentBytes, when given), key
  // entries that pointed at removed blobs, and temp files left by dead writers; removed counts blobs and temp files,
  // recentBytes what the recent ones kept hold.
  async gc(
    keep: Set<string>,
    keepRecentBytes = 0,
  ): Promise<{ removed: number; freedBytes: number; recentBytes: number }> {
    let removed = 0;
    let freedBytes = 0;
    const removedBlobs = new Set<string>();
    const candidates: { name: string; path: string; size: number; used: number }[] = [];
    for (const { name, path } of await this.listBlobs()) {
      if (keep.has(name)) continue;
      const info = await stat(path);
      candidates.push({ name, path, size: info.size, used: info.mtimeMs });
    }
    candidates.sort((x, y) => y.used - x.used || (x.name < y.name ? -1 : 1));
    let recent = 0;
    for (const { name, path, size } of candidates) {
      if (recent + size <= keepRecentBytes) {
        recent += size;
        continue;
      }
      // Past the first blob that does not fit, everything older goes, so what is kept is a contiguous recent set.
      keepRecentBytes = 0;
      freedBytes += size;
      await rm(path, { force: true });
      removedBlobs.add(name);
      removed++;
    }
    for (const name of await listDir(join(this.root, 'tmp'))) {
      const path = join(this.root, 'tmp', name);
      const info = await stat(path).catch(() => undefined);
      if (!info || !isStaleTemp(name, info.mtimeMs)) continue;
      await rm(path, { recursive: true, force: true });
      freedBytes += info.size;
      removed++;
    }
    for (const name of await listDir(join(this.root, 'keys'))) {
      const path = join(this.root, 'keys', name);
      const target = (await readFile(path, 'utf8').catch(() => '')).trim();
      if (removedBlobs.has(target)) await rm(path, { force: true });
    }
    return { removed, freedBytes, recentBytes: recent };
  }

  // The blob hash recorded for a derived-artefact key, or undefined when none is recorded or its blob is gone.
  async getKey(key: string): Promise<string | undefined> {
    const path = this.keyPath(key);
    const text = await readTextIfExists(path);
    if (text === undefined) return undefined;
    const sha256 = text.trim();
    if (!SHA256.test(sha256)) {
      throw new FailureError(`cache key entry ${path} is damaged (does not hold a sha256)`, {
        hint: `delete ${path}; the stage will be rebuilt`,
      });
    }
    return this.has(sha256) ? sha256 : undefined;
  }

  // Records that a derived-artefact key maps to a blob, replacing any earlier record atomically.
  async setKey(key: string, sha256: string): Promise<void> {
    checkSha256(sha256);
    const final = this.keyPath(key);
    await mkdir(join(final, '..'), { recursive: true });
    await writeFileAtomic(final, `${sha256}\n`, { mode: 0o644, temp: await this.tempFile() });
  }

  private keyPath(key: string): string {
    return join(this.root, 'keys', createHash('sha256').update(key).digest('hex'));
  }

  // Temp names carry the writer's pid so gc can tell a crashed write from one still running.
  private async tempFile(): Promise<string> {
    const dir = join(this.root, 'tmp');
    await mkdir(dir, { recursive: true });
    return join(dir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  private async listBlobs(): Promise<{ name: string; path: string }[]> {
    const base = join(this.root, 'blobs', 'sha256');
    const found: { name: string; path: string }[] = [];
    for (const prefix of await listDir(base)) {
      for (const name of await listDir(join(base, prefix))) found.push({ name, path: join(base, prefix, name) });
    }
    return found;
  }
}

function checkSha256(sha256: string): void {
  if (!SHA256.test(sha256)) throw new FailureError(`not a sha256 (64 lowercase hex digits): ${JSON.stringify(sha256)}`);
}

function corruptError(label: string, expected: string, actual: string): FailureError {
  return new FailureError(`cache entry for ${label} is corrupt: expected sha256 ${expected}, got ${actual}`, {
    hint: VERIFY_HINT,
  });
}

function missingError(cause: unknown, sha256: string, label: string): FailureError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && code !== 'ENOENT') {
    return new FailureError(
      `cannot read the cache entry for ${label} (sha256 ${sha256}): ${(cause as Error).message}`,
      { cause },
    );
  }
  return new FailureError(`cache has no entry for ${label} (sha256 ${sha256})`, {
    cause,
    hint: 'fetch the inputs again (a cache gc may have removed it)',
  });
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function isStaleTemp(name: string, mtimeMs: number): boolean {
  if (Date.now() - mtimeMs > TEMP_GRACE_MS) return true;
  const pid = Number(/^(\d+)-/.exec(name)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
