// Unpacks an image archive (a tarred OCI layout or `docker save` output) into a scratch folder without ever following a
// symlink: a symlink that an earlier member made cannot carry a later member out, because every folder on a member's
// path must be a real folder, and files and symlinks are only ever created new (O_EXCL), never opened through a link.
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../../common/errors.ts';
import type { UnpackBudget } from './oci-limits.ts';
import { safeSegments } from './oci-paths.ts';
import { eachEntry, type TarEntry } from './oci-tar.ts';

const HINT = 'the image archive is malformed or hostile; save it again from a trusted source';

// Makes each missing folder of parts under dir; refuses a part that is a symlink or a file, so nothing is created
// through one.
async function realFolders(dir: string, parts: readonly string[], name: string): Promise<string> {
  let path = dir;
  for (const [i, part] of parts.entries()) {
    path = join(path, part);
    const info = await lstat(path).catch(() => undefined);
    if (!info) await mkdir(path, { mode: 0o755 });
    else if (info.isSymbolicLink())
      throw new UserError(
        `refusing archive member ${JSON.stringify(name)}: its folder ${parts.slice(0, i + 1).join('/')} is a symlink, and members are never written through symlinks`,
        { hint: HINT },
      );
    else if (!info.isDirectory())
      throw new UserError(
        `refusing archive member ${JSON.stringify(name)}: ${parts.slice(0, i + 1).join('/')} is a file, not a folder`,
        { hint: HINT },
      );
  }
  return path;
}

// `docker save` links repeated layers to one copy; the target must stay inside the archive as text (reads of it then
// resolve inside the archive again, see oci-files.ts, since text alone cannot tell what a chain of links reaches).
function checkTarget(parts: readonly string[], linkname: string): void {
  if (linkname.startsWith('/')) safeSegments(linkname, 'archive symlink target');
  safeSegments(posix.normalize(posix.join(parts.slice(0, -1).join('/') || '.', linkname)), 'archive symlink target');
}

async function member(dir: string, entry: TarEntry, budget: UnpackBudget): Promise<void> {
  const { name, type, linkname, size } = entry.header;
  budget.takeEntry();
  const parts = safeSegments(name, 'archive member');
  if (parts.length === 0 || (type !== 'directory' && type !== 'file' && type !== 'symlink')) return;
  const parent = await realFolders(dir, parts.slice(0, -1), name);
  const path = join(parent, parts[parts.length - 1]!);
  const existing = await lstat(path).catch(() => undefined);
  if (type === 'directory') {
    if (!existing) await mkdir(path, { mode: 0o755 });
    else if (!existing.isDirectory())
      throw new UserError(
        `refusing archive member ${JSON.stringify(name)}: a file or symlink of that name came first`,
        { hint: HINT },
      );
  } else if (type === 'file') {
    budget.takeBytes(size ?? 0);
    await pipeline(entry, createWriteStream(path, { flags: 'wx', mode: 0o644 }));
  } else {
    checkTarget(parts, linkname ?? '');
    await symlink(linkname, path);
  }
}

// Unpacks file into dir (which must exist): folders, files and symlinks; other member types are skipped.
export async function extractArchive(file: string, dir: string, budget: UnpackBudget): Promise<void> {
  await eachEntry(createReadStream(file), [], 'the image archive', (entry) => member(dir, entry, budget));
}
