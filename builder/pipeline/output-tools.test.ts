import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requireRecipe } from '../recipe/load.ts';
import { missingPackages } from '../tools/doctor.ts';
import { outputPackages } from './output-tools.ts';
import { repoRoot } from './sources.ts';

test("each output brings its packages: the media their writers', erofs the root disk's, Secure Boot media the signing tools", () => {
  assert.equal(outputPackages(requireRecipe('recipes/guest-base.yaml', repoRoot)).sort(), ['erofs-utils']);
  assert.equal([...new Set(outputPackages(requireRecipe('recipes/host.yaml', repoRoot)))].sort(), [
    'grub-common',
    'grub-efi-amd64-bin',
    'grub-pc-bin',
    'mtools',
    'xorriso',
  ]);
  const signed = outputPackages(requireRecipe('recipes/examples/host-secureboot.yaml', repoRoot));
  assert.ok(signed.includes('sbsigntool') && signed.includes('systemd-boot-efi'), signed.join(' '));
});

test('on this build host every output of the repository recipes has its tools', async () => {
  for (const file of ['recipes/host.yaml', 'recipes/guest-base.yaml', 'recipes/examples/host-secureboot.yaml']) {
    assert.equal(await missingPackages(outputPackages(requireRecipe(file, repoRoot))), [], file);
  }
});

test.run();
