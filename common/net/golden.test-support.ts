// Test support: the router files' golden files in common/net/golden/, compared or (UPDATE_GOLDEN=1) rewritten, and
// rulesets loaded into the kernel in a namespace of their own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

// Checks and loads a ruleset in a network namespace of its own: the rule count on the first line, then the ruleset as
// nft prints it.
export function loadedInNetns(json: string): { status: number; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-nft-'));
  try {
    const file = join(dir, 'ruleset.json');
    writeFileSync(file, json);
    const script = `nft --check -j -f ${file}; nft -j -f ${file}; nft -j list ruleset | grep -o '"rule": {' | wc -l; nft list ruleset`;
    const run = spawnSync('unshare', ['--net', 'sh', '-ec', script], { encoding: 'utf8' });
    return { status: run.status ?? -1, out: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
