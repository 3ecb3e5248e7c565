// Test support: the router files' golden files in common/net/golden/, compared or (UPDATE_GOLDEN=1) rewritten.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';

const golden = fileURLToPath(new URL('./golden/', import.meta.url));

// Compares with the golden file; UPDATE_GOLDEN=1 rewrites it (review the diff).
export function matchesGolden(name: string, text: string): void {
  const file = join(golden, name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
  assert.fixture(
    text,
    readFileSync(file, 'utf8'),
    `${name} differs from its golden file (UPDATE_GOLDEN=1 rewrites it)`,
  );
}
