// Finding a command the way `mvos doctor` and the builder's tool checks do: on PATH, then in sbin.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

// Debian leaves sbin off a normal user's PATH, yet tools such as mkfs.vfat live there and run without root.
const SBIN_DIRS = ['/usr/sbin', '/sbin'];

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// The PATH of this process split into directories.
export function envPathDirs(): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter(Boolean);
}

// Full path of a command found in pathDirs or sbin (below root), or undefined.
export async function whichCommand(
  command: string,
  pathDirs: readonly string[] = envPathDirs(),
  root = '/',
): Promise<string | undefined> {
  for (const dir of [...pathDirs, ...SBIN_DIRS.filter((d) => !pathDirs.includes(d))]) {
    if (await isExecutableFile(join(root, dir, command))) return join(dir, command);
  }
  return undefined;
}
