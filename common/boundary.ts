// The import boundary between the two programs: builder/ and agent/ may import common/ and themselves; common/ imports neither.
import { dirname, join, normalize } from 'node:path';

const ALLOWED: Record<string, readonly string[]> = {
  builder: ['builder', 'common'],
  agent: ['agent', 'common'],
  common: ['common'],
};

// Static imports, re-exports and dynamic import() of relative paths.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

// Each import in `text` (the source of `file`, a path from the repository root) that leaves its program, as "file:line imports target".
export function crossingImports(file: string, text: string): string[] {
  const top = file.split('/')[0] ?? '';
  const allowed = ALLOWED[top];
  if (!allowed) return [];
  const found: string[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    const target = normalize(join(dirname(file), match[1] ?? ''));
    const targetTop = target.split('/')[0] ?? '';
    if (allowed.includes(targetTop)) continue;
    if (!(targetTop in ALLOWED)) continue;
    const line = text.slice(0, match.index).split('\n').length;
    found.push(`${file}:${line} imports ${target}`);
  }
  return found;
}
