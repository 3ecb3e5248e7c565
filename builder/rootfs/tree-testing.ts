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
