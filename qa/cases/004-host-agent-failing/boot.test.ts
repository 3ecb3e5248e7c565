// The host's init supervises the agent: an agent that keeps failing is restarted with back-off, and after the fifth
// quick failure init drops to a rescue shell on the console (here the agent is made to fail with an unknown argument).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bootToMarker } from '../../lib/boot.ts';
import { buildHostImage } from '../../lib/host-image.ts';

test('recipes/host.yaml with a failing agent: five restarts, then the rescue shell', async () => {
  const image = buildHostImage();
  const result = await bootToMarker({
    name: '004-host-agent-failing',
    kernel: image.kernel,
    initrd: image.initrd,
    append: `${image.cmdline} mvos.state.wait=0 mvos.agent.args=--no-such-option`,
    marker: 'RESCUE SHELL: the agent failed 5 times in a row',
    timeoutS: 300,
    memoryMiB: 2048,
    cpus: 2,
    accel: 'tcg',
  });
  for (const n of [1, 2, 3, 4, 5]) assert.match(result.log, `(quick failure ${n} of 5)`);
  for (const delay of [1, 2, 4, 8]) assert.match(result.log, `restarting the agent in ${delay} s`);
  assert.not.match(result.log, 'MVOS-AGENT-READY', 'the agent never came up');
  console.log(`  rescue shell ${(result.ms / 1000).toFixed(1)} s after QEMU started`);
});

test.run();
