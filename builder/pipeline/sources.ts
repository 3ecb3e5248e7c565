// Hashes the project's own source files that go into an image (the agent bundle), for stage keys.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from './stage.ts';

// The repository root (paths in keys are relative to it, so checkouts in different folders agree).
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

function listSources(dir: string, found: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      if (name !== 'node_modules' && name !== 'fixtures') listSources(full, found);
    } else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) {
      found.push(full);
    }
  }
}

// sha256 over the TypeScript sources under the given repo folders plus the npm lockfile.
export function hashSources(folders: readonly string[]): string {
  const files: string[] = [];
  for (const folder of folders) listSources(join(repoRoot, folder), files);
  files.push(join(repoRoot, 'package-lock.json'));
  return sha256(JSON.stringify(files.map((f) => [relative(repoRoot, f), sha256(readFileSync(f))])));
}

// sha256 over named builder source files (repo-relative): a stage's key includes the code that makes its output.
export function hashCode(files: readonly string[]): string {
  return sha256(JSON.stringify([...files].sort().map((f) => [f, sha256(readFileSync(join(repoRoot, f)))])));
}
