// Overlay folders: read into tree entries (owner root, modes kept, times dropped) and hashed for stage keys.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { sha256 } from './stage.ts';

// One file, folder or link of an overlay, relative to the overlay root.
export interface OverlayEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  content?: Buffer;
  linkname?: string;
}

// Every entry under an overlay folder, sorted by path; other file types are refused by the caller's check.
export function readOverlay(dir: string): OverlayEntry[] {
  const found: OverlayEntry[] = [];
  const walk = (path: string): void => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      const rel = relative(dir, full);
      const stat = lstatSync(full);
      if (stat.isSymbolicLink()) found.push({ path: rel, type: 'symlink', mode: 0o777, linkname: readlinkSync(full) });
      else if (stat.isDirectory()) {
        found.push({ path: rel, type: 'directory', mode: stat.mode & 0o7777 });
        walk(full);
      } else if (stat.isFile()) {
        // Git keeps only the executable bit, so modes are normalised to what a fresh clone gives.
        found.push({ path: rel, type: 'file', mode: stat.mode & 0o111 ? 0o755 : 0o644, content: readFileSync(full) });
      }
    }
  };
  walk(dir);
  for (const entry of found) if (entry.type === 'directory') entry.mode = 0o755;
  return found;
}

// A hash of an overlay's paths, types, modes and contents (not times or owners), for stage keys.
export function hashOverlay(entries: readonly OverlayEntry[]): string {
  return sha256(
    JSON.stringify(entries.map((e) => [e.path, e.type, e.mode, e.content ? sha256(e.content) : (e.linkname ?? '')])),
  );
}
