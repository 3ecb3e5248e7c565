// Reproducibility: the default host built in a second checkout at another path, with an empty stage cache, gives the
// same initrd, vmlinuz, manifest.json, sbom.spdx.json, ISO and raw disk bytes. (Only the guest kernel compile is
// carried over, to keep CI short; its own reproducibility across build folders is checked where it is built:
// builder/kernel/source.ts.)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyCheckout, seedCache } from '../../lib/checkout.ts';
import { buildHostImage } from '../../lib/host-image.ts';

test('recipes/host.yaml built from two checkout paths: byte-identical outputs', async () => {
  const first = buildHostImage();
  const other = mkdtempSync(join(tmpdir(), 'mvos-qa-003-'));
  try {
    const checkout = copyCheckout(join(other, 'elsewhere', 'multiverse'));
    const lock = JSON.parse(readFileSync(join(checkout, 'recipes/host.lock.json'), 'utf8'));
    const kernelStages = Object.entries(first.manifest.build.stages as Record<string, string>)
      .filter(([name]) => name.startsWith('kernel-source('))
      .map(([, key]) => key);
    const cache = await seedCache(join(other, 'cache'), lock, kernelStages);
    const second = buildHostImage('recipes/host.yaml', { cwd: checkout, env: { MVOS_CACHE: cache.root } });
    for (const file of [
      'vmlinuz',
      'initrd',
      'manifest.json',
      'sbom.spdx.json',
      'multiverse-host.iso',
      'multiverse-host.raw',
    ]) {
      assert.ok(
        readFileSync(join(first.dir, file)).equals(readFileSync(join(second.dir, file))),
        `${file} differs between the two checkouts`,
      );
    }
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test.run();
