// The default host image boots in QEMU (TCG): init mounts, loads modules, finds no state disk and says so, starts the
// agent, and the agent prints its ready marker on the serial console.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bootToMarker } from '../../lib/boot.ts';
import { buildHostImage } from '../../lib/host-image.ts';

test('recipes/host.yaml: boot to MVOS-AGENT-READY', async () => {
  const image = buildHostImage();
  const result = await bootToMarker({
    name: '002-host-agent-ready',
    kernel: image.kernel,
    initrd: image.initrd,
    append: `${image.cmdline} mvos.state.wait=0`,
    marker: /MVOS-AGENT-READY multiverse-host \S+ accel=(kvm|tcg)/,
    timeoutS: 300,
    memoryMiB: 2048,
    cpus: 2,
    accel: 'tcg',
  });
  assert.match(result.log, /mvos-init: /, 'init reports progress on the console');
  assert.match(result.log, /not persistent/i, 'no state disk: init warns that state lives in RAM');
  console.log(`  host image: agent ready ${(result.ms / 1000).toFixed(1)} s after QEMU started (${result.accel})`);
});

test.run();
