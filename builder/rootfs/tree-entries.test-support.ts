// Test support: a tree entry with usual defaults (root-owned, 0755 folders, 0777 links, 0644 files).
import type { TreeEntry } from './tree.ts';

// An entry of the given type; `extra` overrides any field.
export const entry = (path: string, type: TreeEntry['type'], extra: Partial<TreeEntry> = {}): TreeEntry => ({
  path,
  type,
  mode: type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644,
  uid: 0,
  gid: 0,
  origin: 'test',
  ...extra,
});

// The ls-style mode string (`-rwsr-xr-x`) that tar -tv, cpio -tv and dpkg-deb -c print, for a one-letter kind and
// permission bits.
export function lsMode(kind: string, mode: number): string {
  const bit = (mask: number, char: string) => (mode & mask ? char : '-');
  const exec = (x: number, special: number, on: string, off: string) =>
    mode & special ? (mode & x ? on : off) : bit(x, 'x');
  return (
    kind +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    exec(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    exec(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    exec(0o001, 0o1000, 't', 'T')
  );
}
