// A novm launch: a microvm told the host's TSC rate under TCG (never under KVM), ours before the recipe's arguments.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VmConfig } from '../config.ts';
import { MICROVM_FIRMWARE, novmSpec } from './novm.ts';
import { vmPaths } from './vm.ts';

const vm: VmConfig = {
  name: 'app',
  role: 'application',
  launch: 'novm',
  cpus: 1,
  memoryMiB: 256,
  autostart: false,
  ephemeral: true,
  kernel: '/images/vmlinuz',
  initrd: '/images/initrd',
  cmdline: 'console=ttyS0 -- init-arg',
  firmware: { type: 'none' },
  disk: '/images/root.erofs',
  health: { deadlineSeconds: 30, marker: 'READY', hangSeconds: 15, heartbeatSeconds: 30 },
  restart: { attempts: 0, backoffSeconds: 1, windowSeconds: 600 },
  hugepages: 'off',
};
const paths = vmPaths('/state', 'app');

test('under TCG the kernel is told the TSC rate, ahead of the recipe command line', async () => {
  const spec = await novmSpec(vm, { root: '/', accel: 'tcg', paths, tscKhz: 2596096 });
  assert.is(spec.machine, 'microvm');
  assert.is(spec.append, 'mvos.root=/dev/vda tsc_early_khz=2596096 tsc=reliable console=ttyS0 -- init-arg');
});

test('under KVM, or with the rate unknown, nothing is added', async () => {
  assert.is(
    (await novmSpec(vm, { root: '/', accel: 'kvm', paths, tscKhz: 2596096 })).append,
    'mvos.root=/dev/vda console=ttyS0 -- init-arg',
  );
  assert.is(
    (await novmSpec(vm, { root: '/', accel: 'tcg', paths })).append,
    'mvos.root=/dev/vda console=ttyS0 -- init-arg',
  );
});

test("the firmware is named, qboot, not left to QEMU's default (which Debian 13 no longer links to qboot)", async () => {
  const spec = await novmSpec(vm, { root: '/', accel: 'tcg', paths });
  const extra = spec.extra ?? [];
  assert.is(extra[extra.indexOf('-bios') + 1], MICROVM_FIRMWARE);
  assert.is(MICROVM_FIRMWARE, '/usr/share/qemu/qboot.rom');
});

test.run();
