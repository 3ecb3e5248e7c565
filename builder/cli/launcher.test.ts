import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../../common/temp-dir.ts';
import { copyCheckout } from '../../qa/lib/checkout.ts';
// @ts-expect-error: plain JavaScript (it runs before anything can compile TypeScript); its exports are checked here.
import { bundleDir, isFresh } from './launcher.mjs';
import { runMvos } from './mvos.test-support.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('./mvos runs from a bundle that is fresh afterwards, with a code cache for each verb it ran', () => {
  const run = runMvos(['--version']);
  assert.is(run.code, 0, run.stderr);
  assert.ok(isFresh(root), 'the bundle is fresh after a run');
  assert.ok(readdirSync(bundleDir(root)).includes('cli.cjs'));
  const validate = runMvos(['validate', 'recipes/host.yaml']);
  assert.is(validate.code, 0, validate.stderr);
  assert.ok(readdirSync(bundleDir(root)).includes('validate.v8'), 'a code cache of its own for validate');
  // Modules keep their own import.meta.url; a string that spells it (the agent bundle's banner) stays as written.
  const bundle = readFileSync(join(bundleDir(root), 'cli.cjs'), 'utf8');
  assert.ok(bundle.includes('"const require = __mvosCreateRequire(import.meta.url);"'), 'the banner text is intact');
});

test('a bundle is stale when a file it was made from changed or is gone, or the stamp is for another checkout', async () => {
  await withTempDir('mvos-launcher-', async (base) => {
    const source = join(base, 'a.ts');
    const writeStamp = (owner: string) => {
      const { mtimeMs, size } = statSync(source);
      writeFileSync(
        join(bundleDir(base), 'stamp.json'),
        JSON.stringify({ root: owner, files: [['a.ts', mtimeMs, size]] }),
      );
    };
    writeFileSync(source, 'export const a = 1;\n');
    mkdirSync(bundleDir(base), { recursive: true });
    writeStamp(base);
    assert.ok(isFresh(base), 'as made');
    utimesSync(source, new Date(2000, 0, 1), new Date(2000, 0, 1));
    assert.not.ok(isFresh(base), 'a source touched');
    writeStamp(base);
    appendFileSync(source, 'export const b = 2;\n');
    assert.not.ok(isFresh(base), 'a source rewritten');
    writeStamp(`${base}-elsewhere`);
    assert.not.ok(isFresh(base), 'the stamp names another checkout');
    writeStamp(base);
    rmSync(source);
    assert.not.ok(isFresh(base), 'a source removed');
    writeFileSync(join(bundleDir(base), 'stamp.json'), '{not json');
    assert.not.ok(isFresh(base), 'an unreadable stamp');
  });
});

test('a copy of the checkout gets its own bundle; a source that does not compile is reported by the sources', async () => {
  await withTempDir('mvos-launcher-copy-', async (dir) => {
    const copy = copyCheckout(join(dir, 'checkout'));
    const mvos = (...args: string[]) =>
      spawnSync(join(copy, 'mvos'), args, { cwd: copy, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const ok = mvos('--version');
    assert.is(ok.status, 0, ok.stderr);
    assert.ok(isFresh(copy), "the copy's bundle");
    assert.is.not(bundleDir(copy), bundleDir(root));
    appendFileSync(join(copy, 'common/table.ts'), '\nexport const broken = ;\n');
    const broken = mvos('--version');
    assert.is.not(broken.status, 0);
    assert.match(broken.stderr, /common\/table\.ts/);
    assert.not.ok(isFresh(copy));
  });
});

test.run();
