// End to end, nested: the host image boots in QEMU (TCG), its agent starts the controller VM inside it (TCG in TCG) and
// reports it ready; a host whose controller image cannot start brings up the rescue VM instead. Slow: minutes each.

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ARTIFACTS, bootToMarker } from '../../lib/boot.ts';
import { buildHostImage } from '../../lib/host-image.ts';

const NESTED_S = 900;

function boot(name: string, image: ReturnType<typeof buildHostImage>, marker: RegExp) {
  return bootToMarker({
    name,
    kernel: image.kernel,
    initrd: image.initrd,
    append: `${image.cmdline} mvos.state.wait=0`,
    marker,
    timeoutS: NESTED_S,
    memoryMiB: 2048,
    cpus: 2,
    accel: 'tcg',
  });
}

test('recipes/host.yaml in QEMU: the agent starts the controller and it reports ready', async () => {
  const image = buildHostImage();
  const result = await boot('010-nested-controller', image, /mvos-agent: controller: ready \(.*\) after [\d.]+ s/);
  assert.match(result.log, /MVOS-AGENT-READY multiverse-host/);
  assert.match(result.log, /pinning plan: controller: vCPU0→\d/);
  const line = /mvos-agent: controller: ready .*/.exec(result.log)![0];
  console.log(`  ${line.trim()}; ${(result.ms / 1000).toFixed(0)} s after the host's QEMU started`);
});

test('a host whose controller cannot start: the agent falls back and the rescue VM comes up', async () => {
  const image = buildHostImage('qa/cases/010-nested-controller/host-broken.yaml', {
    output: join(ARTIFACTS, '010-nested-images'),
  });
  const result = await boot('010-nested-rescue', image, /mvos-agent: rescue: ready \(.*\) after [\d.]+ s/);
  assert.match(result.log, /mvos-agent: controller: failed: .*panic/);
  assert.match(result.log, /mvos-agent: controller: falling back to rescue/);
  console.log(`  rescue ready ${(result.ms / 1000).toFixed(0)} s after the host's QEMU started`);
});

test.run();
