// A recipe that extends the default host: locked, it pins what it inherits as the default does, and built, every stage
// it shares with the default (guest kernel, controller and rescue images, firmware, host kernel) comes from the cache.

import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildHostImage, repoRoot } from '../../lib/host-image.ts';

test("a derived host locks to the default's pins and builds with every inherited stage from the cache", async () => {
  buildHostImage();
  const dir = await mkdtemp(join(tmpdir(), 'mvos-qa-018-'));
  try {
    const recipe = join(dir, 'derived.yaml');
    await writeFile(
      recipe,
      `extends: ${join(repoRoot, 'recipes/host.yaml')}\nname: derived-host\ndescription: the default host under another name\n`,
    );
    const mvos = (...args: string[]) =>
      spawnSync(join(repoRoot, 'mvos'), args, {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
        timeout: 30 * 60_000,
      });
    const lock = mvos('lock', recipe);
    assert.is(lock.status, 0, lock.stderr);
    const base = JSON.parse(await readFile(join(repoRoot, 'recipes/host.lock.json'), 'utf8'));
    const derived = JSON.parse(await readFile(join(dir, 'derived.lock.json'), 'utf8'));
    assert.equal(derived.packages, base.packages, 'the same pins');
    assert.is(derived.sourceDateEpoch, base.sourceDateEpoch);
    const build = mvos('build', recipe, '--output', join(dir, 'images'));
    assert.is(build.status, 0, build.stderr);
    const summary = /built .* (\d+) of \d+ stages ran(?: \((.*)\))?$/m.exec(build.stdout + build.stderr);
    assert.ok(summary, `no build summary in:\n${build.stdout}${build.stderr}`);
    const ran = summary![2] ? summary![2].split(', ') : [];
    const inherited = ran.filter((stage) => !/\(derived-host\)$/.test(stage) && stage !== 'agent');
    assert.equal(inherited, [], `stages it shares with the default were rebuilt: ${inherited.join(', ')}`);
    console.log(`  derived build ran only ${ran.join(', ')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
