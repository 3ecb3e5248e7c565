// Path checks for unpacking images: every name an archive or manifest gives stays inside the folder it is unpacked to.
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../common/errors.ts';

// Linux gives up after 40 symlinks in one lookup (ELOOP); so does the resolver.
const MAX_HOPS = 40;

// An archive member name as relative segments; absolute names, `..` and NUL bytes are refused (`./` and `//` are
// tidied).
export function safeSegments(name: string, what: string): string[] {
  if (name.startsWith('/')) throw refused(what, name, 'is an absolute path');
  if (name.includes('\0')) throw refused(what, name, 'contains a NUL byte');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw refused(what, name, "climbs out with '..'");
  return parts;
}

function refused(what: string, name: string, why: string): UserError {
  return new UserError(`refusing ${what} ${JSON.stringify(name)}: it ${why} (path traversal)`, {
    hint: 'the image is malformed or hostile; rebuild it from a trusted source',
  });
}

// A symlink's target, taken as the image sees it: absolute targets start at the image root, relative ones at the link's
// folder; a target that would climb above the root is an escape and refused rather than clamped.
function linkTarget(parentParts: string[], target: string, link: string): string[] {
  const start = target.startsWith('/') ? [] : [...parentParts];
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (start.length === 0) {
        throw new UserError(
          `refusing symlink /${link} -> ${target}: following it leaves the image root (symlink escape)`,
          {
            hint: 'the image is malformed or hostile; rebuild it from a trusted source',
          },
        );
      }
      start.pop();
    } else start.push(part);
  }
  return start;
}

// Resolves segments under root the way the image's own root would see them, following symlinks in every folder part
// (never the last part: that one is what gets created or replaced). Returns real segments, all folders or missing.
export async function resolveParent(root: string, parts: readonly string[]): Promise<string[]> {
  return resolve(root, parts, false);
}

// Resolves segments under root as the image sees them, the last part too: a read of the result never leaves root.
export async function resolvePath(root: string, parts: readonly string[]): Promise<string[]> {
  return resolve(root, parts, true);
}

async function resolve(root: string, parts: readonly string[], followLast: boolean): Promise<string[]> {
  const pending = [...parts];
  const done: string[] = [];
  let hops = 0;
  for (let part = pending.shift(); part !== undefined; part = pending.shift()) {
    const last = pending.length === 0;
    if (last && !followLast) {
      done.push(part);
      break;
    }
    const here = join(root, ...done, part);
    const info = await lstat(here).catch(() => undefined);
    if (info?.isSymbolicLink()) {
      if (++hops > MAX_HOPS)
        throw new UserError(`refusing /${[...done, part].join('/')}: more than ${MAX_HOPS} symlinks in one path`);
      const target = linkTarget(done, await readlink(here), [...done, part].join('/'));
      done.length = 0;
      pending.unshift(...target);
      continue;
    }
    if (info && !info.isDirectory() && !last) {
      throw new UserError(`refusing /${parts.join('/')}: /${[...done, part].join('/')} is a file, not a folder`, {
        hint: 'the image is malformed',
      });
    }
    done.push(part);
  }
  return done;
}
