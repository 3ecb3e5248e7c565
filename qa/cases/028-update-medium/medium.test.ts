// An update for a host with no network: a fresh v1 disk of scenario 026's host boots with a medium labelled
// MVOS-UPDATE that carries a forged v2 and a good one; the agent refuses the forged one (named once in the events),
// applies the good one and reboots into it, the gate keeps v2, and the medium left in is left alone after.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agentReady, freshMachine, gatePassed, updateScenario } from '../../lib/update-lab.ts';

const scenario = updateScenario(test, '028');

test('a fresh v1 disk with a medium labelled MVOS-UPDATE updates itself to v2, and leaves the medium alone after', async () => {
  const host = await freshMachine('028-medium', scenario.lab.images.v1, scenario.dir, 'MVOS-UPDATE', {
    'v2.mvu': scenario.lab.bundles.v2,
    'forged.mvu': scenario.lab.bundles.forged,
  });
  scenario.host = host;
  await host.waitFor(agentReady('0.1.0'), 300);
  const applied = await host.waitFor('update medium: applying', 120);
  await host.waitFor('mvos: trying slot b once', 300, applied);
  const v2 = await host.waitFor(agentReady('0.2.0'), 300, applied);
  const kept = await host.waitFor(gatePassed('0.2.0', 'b'), 420, v2);
  console.log(`  from the medium seen to v2 kept: ${((kept - applied) / 1000).toFixed(1)} s`);
  await host.waitFor(/update medium: v2\.mvu \(0\.2\.0\) is left alone: 0\.2\.0 is not newer/, 60, v2);
  const status = await host.command('mvos update status');
  assert.match(status.output, /slot b\s+0\.2\.0\s+good\s+booted, boot slot/);
  assert.match(status.output, /medium refused 0\.2\.0 by medium: .*signature is refused/);
});

test.run();
