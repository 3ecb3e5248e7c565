// The Debian 12 example stays buildable: recipes/examples/host-bookworm.yaml builds from its own lock (bookworm's
// kernel 6.1, QEMU 7.2, Node 18, a guest kernel from linux-source-6.1), its agent bundle targets Node 18, and it boots to
// agent ready. Slow: a second guest kernel compile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bootToMarker } from '../../lib/boot.ts';
import { buildHostImage } from '../../lib/host-image.ts';

test('recipes/examples/host-bookworm.yaml: built from Debian 12, boots to MVOS-AGENT-READY', async () => {
  const image = buildHostImage('recipes/examples/host-bookworm.yaml');
  const inputs = JSON.stringify(image.manifest);
  assert.match(inputs, /"linux-image-6\.1\.0-[^"]*-amd64"/, 'the host kernel is the Debian 12 6.1 kernel');
  assert.match(inputs, /"linux-source-6\.1"/, 'the guest kernel comes from linux-source-6.1');
  const result = await bootToMarker({
    name: '020-bookworm-host',
    kernel: image.kernel,
    initrd: image.initrd,
    append: `${image.cmdline} mvos.state.wait=0`,
    marker: /MVOS-AGENT-READY multiverse-host-bookworm \S+ accel=(kvm|tcg)/,
    timeoutS: 300,
    memoryMiB: 2048,
    cpus: 2,
    accel: 'tcg',
  });
  assert.match(result.log, /Linux version 6\.1\./, 'the Debian 12 kernel booted');
  console.log(`  bookworm host: agent ready ${(result.ms / 1000).toFixed(1)} s after QEMU started (${result.accel})`);
});

test.run();
