// Reading files of an unpacked archive or image tree as that tree sees them: symlinks are followed inside it only (an
// absolute target starts at its root, a climb above the root is refused), and only regular files are opened, so a
// read never reaches a host file, a device such as /dev/zero, or a fifo that would wait forever.
import { constants } from 'node:fs';
import { type FileHandle, lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../common/errors.ts';
import { resolvePath, safeSegments } from './oci-paths.ts';

// The real path (no symlink in it) that name reaches inside root, or undefined when nothing is there.
export async function findInside(root: string, name: string, what: string): Promise<string | undefined> {
  const path = join(root, ...(await resolvePath(root, safeSegments(name, what))));
  return (await lstat(path).catch(() => undefined)) ? path : undefined;
}

// Opens a regular file for reading; a symlink in its last part, a fifo, a device or a folder is refused, never waited
// on.
export async function openFile(path: string, what: string): Promise<FileHandle> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    (cause: NodeJS.ErrnoException) => {
      throw new UserError(
        `cannot open ${what} (${path}): ${cause.code === 'ELOOP' ? 'it is a symlink' : cause.message}`,
        { cause },
      );
    },
  );
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw new UserError(`${what} (${path}) is not a regular file`, {
      hint: 'the image is malformed or hostile; rebuild it from a trusted source',
    });
  }
  return handle;
}

// A regular file as text; refused past maxBytes rather than read into memory.
export async function readSmall(path: string, what: string, maxBytes: number): Promise<string> {
  const handle = await openFile(path, what);
  try {
    const { size } = await handle.stat();
    if (size > maxBytes)
      throw new UserError(`${what} (${path}) has ${size} bytes, more than the ${maxBytes} it may have`, {
        hint: 'the image is malformed or hostile',
      });
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

// A small file inside root as text, undefined when missing.
export async function readInside(
  root: string,
  name: string,
  what: string,
  maxBytes: number,
): Promise<string | undefined> {
  const path = await findInside(root, name, what);
  return path === undefined ? undefined : readSmall(path, what, maxBytes);
}
