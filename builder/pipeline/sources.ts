// Hashes the project's own source files that make a stage's output, for stage keys.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from './stage.ts';

// The repository root (paths in keys are relative to it, so checkouts in different folders agree).
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

// sha256 over the files' paths (relative to root, in the given order) and contents.
export function hashFiles(files: readonly string[], root = repoRoot): string {
  return sha256(JSON.stringify(files.map((f) => [f, sha256(readFileSync(join(root, f)))])));
}

// sha256 over named builder source files (repo-relative): a stage's key includes the code that makes its output.
export function hashCode(files: readonly string[]): string {
  return hashFiles([...files].sort());
}
