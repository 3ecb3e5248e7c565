// The lockfile: every input of a recipe and its VM recipes, by exact version and sha256, in stable order.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { FailureError, UserError } from '../../common/errors.ts';
import type { PackagePin } from './apt.ts';
import type { LockedDebian } from './debian-sources.ts';

// Format version of the lockfile; bumped when its shape changes.
export const lockfileVersion = 2;

// What one image (the host or a guest) takes from the pinned packages.
export interface LockedImage {
  recipe: string;
  kind: 'host' | 'guest';
  requested: string[];
  packages: string[];
  kernel?: { request: string; package: string };
  kernelSource?: { request: string; package: string };
  firmware: string[];
  runtime?: { node: string };
}

// The whole lockfile as stored in recipes/<name>.lock.json.
export interface Lockfile {
  lockfileVersion: number;
  recipe: string;
  arch: string;
  // The Debian release, archives and keys the pins were resolved against.
  debian: LockedDebian;
  sourceDateEpoch: number;
  images: Record<string, LockedImage>;
  packages: Record<string, Omit<PackagePin, 'name'>>;
}

// Where the lockfile of a recipe lives: beside it, `<name>.lock.json`.
export function lockfilePath(recipeFile: string): string {
  return join(dirname(recipeFile), `${basename(recipeFile).replace(/\.ya?ml$/, '')}.lock.json`);
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// The lockfile text: keys in a fixed order, records sorted by name, one pin per block, so diffs read well.
export function serializeLockfile(lock: Lockfile): string {
  const ordered = {
    lockfileVersion: lock.lockfileVersion,
    recipe: lock.recipe,
    arch: lock.arch,
    debian: {
      suite: lock.debian.suite,
      archives: lock.debian.archives.map((a) => ({ archive: a.archive, suites: [...a.suites] })),
      components: [...lock.debian.components],
      keyrings: sortKeys(lock.debian.keyrings),
    },
    sourceDateEpoch: lock.sourceDateEpoch,
    images: sortKeys(
      Object.fromEntries(
        Object.entries(lock.images).map(([name, image]) => [
          name,
          {
            recipe: image.recipe,
            kind: image.kind,
            requested: [...image.requested].sort(),
            packages: [...image.packages].sort(),
            ...(image.kernel ? { kernel: image.kernel } : {}),
            ...(image.kernelSource ? { kernelSource: image.kernelSource } : {}),
            firmware: [...image.firmware].sort(),
            ...(image.runtime ? { runtime: image.runtime } : {}),
          },
        ]),
      ),
    ),
    packages: sortKeys(
      Object.fromEntries(
        Object.entries(lock.packages).map(([name, p]) => [
          name,
          { version: p.version, arch: p.arch, size: p.size, sha256: p.sha256, filename: p.filename },
        ]),
      ),
    ),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

// Reads a lockfile if there is one; a damaged one is a user error naming the file.
// `mvos lock` reads an older format's lockfile as absent: it is rewritten from the recipe.
export function readLockfile(path: string, options: { olderAsAbsent?: boolean } = {}): Lockfile | undefined {
  if (!existsSync(path)) return undefined;
  let lock: Lockfile;
  try {
    lock = JSON.parse(readFileSync(path, 'utf8')) as Lockfile;
  } catch (error) {
    throw new UserError(`${path} is not valid JSON: ${(error as Error).message}`, {
      hint: 'restore it from git, or delete it and run `mvos lock` again',
    });
  }
  if (typeof lock.lockfileVersion === 'number' && lock.lockfileVersion < lockfileVersion) {
    if (options.olderAsAbsent) return undefined;
    throw new UserError(
      `${path} is a lockfile of version ${lock.lockfileVersion}, from before locks named their Debian suite`,
      {
        hint: 'run `mvos lock` on its recipe again (it keeps the recipe, and pins the suite the recipe names)',
      },
    );
  }
  if (
    lock.lockfileVersion !== lockfileVersion ||
    typeof lock.debian !== 'object' ||
    lock.debian === null ||
    typeof lock.debian.suite !== 'string' ||
    !Array.isArray(lock.debian.archives) ||
    typeof lock.debian.keyrings !== 'object' ||
    typeof lock.packages !== 'object' ||
    typeof lock.images !== 'object'
  ) {
    throw new UserError(`${path} is not a lockfile of version ${lockfileVersion}`, {
      hint: 'delete it and run `mvos lock` again',
    });
  }
  for (const [name, pin] of Object.entries(lock.packages)) {
    if (!/^[0-9a-f]{64}$/.test(pin.sha256) || !Number.isInteger(pin.size)) {
      throw new UserError(`${path}: the pin of ${name} has no valid sha256 or size`, {
        hint: `restore the file from git, or run \`mvos lock --update ${name}\``,
      });
    }
  }
  return lock;
}

// Writes the lockfile atomically (temp file, then rename), so a crash never leaves half a lockfile.
export async function writeLockfile(path: string, lock: Lockfile): Promise<void> {
  try {
    await writeFileAtomic(path, serializeLockfile(lock), { mode: 0o666 });
  } catch (cause) {
    throw new FailureError(`could not write ${path}`, { cause });
  }
}

// The full pin of a package named in the lockfile.
export function pinOf(lock: Lockfile, name: string): PackagePin {
  const pin = lock.packages[name];
  if (!pin)
    throw new UserError(`the lockfile names no package ${name}`, { hint: 'run `mvos lock` to bring it up to date' });
  return { name, ...pin };
}
