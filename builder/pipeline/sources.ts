// Hashes the project's own source files that make a stage's output, for stage keys.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { moduleGraph } from './module-graph.ts';
import { sha256 } from './stage.ts';

// The repository root (paths in keys are relative to it, so checkouts in different folders agree).
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

// sha256 over the files' paths (relative to root, in the given order) and contents.
export function hashFiles(files: readonly string[], root = repoRoot): string {
  return sha256(JSON.stringify(files.map((f) => [f, sha256(readFileSync(join(root, f)))])));
}

// sha256 over the named repo files, each module with every repository module it imports: no hand-kept list can miss an
// import.
export async function hashCode(files: readonly string[]): Promise<string> {
  const graphs = await Promise.all(files.map((f) => (f.endsWith('.ts') ? moduleGraph(repoRoot, f) : [f])));
  return hashFiles([...new Set(graphs.flat())].sort());
}
