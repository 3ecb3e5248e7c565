// `mvos lock` on a recipe that extends the default host: it takes the base's pins (this machine's apt sources offer
// newer versions of some of them by now), and `--check` names a derived lock that drifted from its base.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../main.ts';

const repo = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'mvos-derived-'));
const recipe = join(dir, 'derived.yaml');
const lockPath = join(dir, 'derived.lock.json');
writeFileSync(
  recipe,
  [
    `extends: ${join(repo, 'recipes/host.yaml')}`,
    'name: derived-host',
    'description: the default host under another name',
    '',
  ].join('\n'),
);

interface LockShape {
  sourceDateEpoch: number;
  packages: Record<string, { version: string; sha256: string }>;
}

async function mvos(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...args, '--no-color'], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test("a derived recipe locks every inherited package to its base's pin, with the base's SOURCE_DATE_EPOCH", async () => {
  const result = await mvos('lock', recipe);
  assert.is(result.code, 0, result.err);
  assert.match(result.out, /inherited pins from .*recipes\/host\.lock\.json/);
  const base = JSON.parse(readFileSync(join(repo, 'recipes/host.lock.json'), 'utf8')) as LockShape;
  const derived = JSON.parse(readFileSync(lockPath, 'utf8')) as LockShape;
  assert.equal(Object.keys(derived.packages).sort(), Object.keys(base.packages).sort(), 'the same packages');
  for (const [name, pin] of Object.entries(base.packages))
    assert.equal(derived.packages[name], pin, `${name} pinned as in the base`);
  assert.is(derived.sourceDateEpoch, base.sourceDateEpoch);
  const check = await mvos('lock', recipe, '--check');
  assert.is(check.code, 0, check.err);
});

test('--check says when a derived lock has drifted from its base, and locking again brings it back', async () => {
  const derived = JSON.parse(readFileSync(lockPath, 'utf8')) as LockShape;
  const name =
    Object.keys(derived.packages).find((n) => n.startsWith('linux-source-')) ?? Object.keys(derived.packages)[0]!;
  const original = derived.packages[name]!;
  derived.packages[name] = { ...original, version: `${original.version}+drift`, sha256: 'f'.repeat(64) };
  writeFileSync(lockPath, `${JSON.stringify(derived, null, 2)}\n`);
  const check = await mvos('lock', recipe, '--check');
  assert.is(check.code, 2);
  assert.match(
    check.err,
    new RegExp(
      `drifted from its base .*host\\.lock\\.json: ${name.replace(/[.+]/g, '\\$&')} \\S+\\+drift \\(base: ${original.version.replace(/[.+]/g, '\\$&')}\\)`,
    ),
  );
  const relock = await mvos('lock', recipe);
  assert.is(relock.code, 0, relock.err);
  const again = JSON.parse(readFileSync(lockPath, 'utf8')) as LockShape;
  assert.equal(again.packages[name], original);
});

test('the default host still re-locks to itself although its metapackages moved on', async () => {
  const check = await mvos('lock', 'recipes/host.yaml', '--check');
  assert.is(check.code, 0, check.err);
});

test.run();
