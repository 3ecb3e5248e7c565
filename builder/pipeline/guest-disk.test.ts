import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requireRecipe } from '../recipe/load.ts';
import { guestDiskPath, hostConfig } from './generated.ts';
import { repoRoot } from './sources.ts';

test('the default host names each VM root disk in host.json, beside its kernel; a guest without the erofs output has none', () => {
  const host = requireRecipe('recipes/host.yaml', repoRoot);
  const vms = hostConfig(host).vms;
  for (const vm of vms) {
    assert.is(vm.disk, `/usr/share/mvos/vms/${vm.name}/disk.erofs`, `${vm.name} boots from its disk`);
    assert.is(vm.kernel.replace(/vmlinuz$/, 'disk.erofs'), vm.disk);
  }
  const controller = host.vms.find((vm) => vm.name === 'controller')!;
  const bare = { ...controller, recipe: { ...controller.recipe, outputs: ['kernel+initrd'] as const } };
  assert.is(guestDiskPath(bare as typeof controller), undefined);
});

test.run();
