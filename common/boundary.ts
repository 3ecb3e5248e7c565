// The import boundaries: builder/ and agent/ may import common/ and themselves, common/ imports neither; product code
// never reaches test code (suites, and test support named `*.test-support.ts`), so none of it lands in the agent
// bundle.
import { dirname, join, normalize } from 'node:path';

const ALLOWED: Record<string, readonly string[]> = {
  builder: ['builder', 'common'],
  agent: ['agent', 'common'],
  common: ['common'],
};

// Static imports, re-exports and dynamic import() of relative paths.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
// A file named relative to the module, the way a script to spawn is found: new URL('./x.ts', import.meta.url).
const URL_REFERENCE = /\bnew\s+URL\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*,\s*import\.meta\.url/gm;

interface Reference {
  target: string;
  line: number;
}

function references(file: string, text: string, pattern: RegExp): Reference[] {
  return [...text.matchAll(pattern)].map((match) => ({
    target: normalize(join(dirname(file), match[1] ?? '')),
    line: text.slice(0, match.index).split('\n').length,
  }));
}

// Whether a file is test code by its name: a suite (`*.test.ts`) or test support (`*.test-support.ts`: fakes, fixtures,
// helpers, scripts tests spawn).
export function isTestCode(file: string): boolean {
  return /\.test(?:-support)?\.ts$/.test(file);
}

// Each import in `text` (the source of `file`, a path from the repository root) that leaves its program, as "file:line
// imports target".
export function crossingImports(file: string, text: string): string[] {
  const allowed = ALLOWED[file.split('/')[0] ?? ''];
  if (!allowed) return [];
  return references(file, text, SPECIFIER)
    .filter(({ target }) => {
      const targetTop = target.split('/')[0] ?? '';
      return !allowed.includes(targetTop) && targetTop in ALLOWED;
    })
    .map(({ target, line }) => `${file}:${line} imports ${target}`);
}

// Each reference of a product file (in builder/, agent/ or common/, not test code) to test code, by import or new
// URL(), as "file:line imports target".
export function testCodeImports(file: string, text: string): string[] {
  if (!((file.split('/')[0] ?? '') in ALLOWED) || isTestCode(file)) return [];
  return [...references(file, text, SPECIFIER), ...references(file, text, URL_REFERENCE)]
    .filter(({ target }) => isTestCode(target))
    .sort((a, b) => a.line - b.line)
    .map(({ target, line }) => `${file}:${line} imports ${target}`);
}
