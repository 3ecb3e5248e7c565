// Signed A/B updates on a real raw disk under real firmware (SeaBIOS), the host rebooting in place: v1 boots; a v2
// bundle pushed from the console of the booted host (`mvos update push`, the agent's API) is written to slot b, tried,
// passes its health gate and is kept; bundles that must be refused (forged, older, for another host, expired…) are,
// with nothing written; a v3 whose agent never starts is tried once and the host is back on v2 by itself, with the
// reason in status. (A medium labelled MVOS-UPDATE bringing v2 is scenario 028, in test:slow.)

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agentReady, freshMachine, gatePassed, updateScenario } from '../../lib/update-lab.ts';

const scenario = updateScenario(test, '026');

test('v1 boots; v2 pushed from its console is written to slot b, tried once, passes its gate and is kept', async () => {
  const host = await freshMachine('026-updates', scenario.lab.images.v1, scenario.dir, 'BUNDLES', {
    'v1.mvu': scenario.lab.bundles.v1,
    'v2.mvu': scenario.lab.bundles.v2,
    'v3.mvu': scenario.lab.bundles.v3,
    'forged.mvu': scenario.lab.bundles.forged,
  });
  scenario.host = host;
  const v1 = await host.waitFor(agentReady('0.1.0'), 300);
  console.log(`  v1 ready ${(v1 / 1000).toFixed(1)} s after QEMU started`);
  const mounted = await host.command('mkdir -p /tmp/b && mount -o ro /dev/vdb /tmp/b && mvos update status');
  assert.is(mounted.status, 0, mounted.output);
  assert.match(mounted.output, /slot a\s+0\.1\.0\s+good\s+booted, boot slot/);
  assert.match(mounted.output, /slot b\s+-\s+empty/);
  const forged = await host.command('mvos update push /tmp/b/forged.mvu');
  assert.is(forged.status, 2, forged.output);
  assert.match(forged.output, /bundle refused: the signature is refused/);
  const since = host.now;
  host.type('mvos update push /tmp/b/v2.mvu');
  await host.waitFor('0.2.0 written to slot b; rebooting into it', 300, since);
  await host.waitFor('mvos: trying slot b once', 300, since);
  const v2 = await host.waitFor(agentReady('0.2.0'), 300, since);
  const kept = await host.waitFor(gatePassed('0.2.0', 'b'), 420, since);
  console.log(
    `  v2: push to ready ${((v2 - since) / 1000).toFixed(1)} s, gate passed ${((kept - v2) / 1000).toFixed(1)} s after ready`,
  );
  const status = await host.command('mvos update status');
  assert.match(status.output, /slot a\s+0\.1\.0\s+good/);
  assert.match(status.output, /slot b\s+0\.2\.0\s+good\s+booted, boot slot/);
});

test('refused before anything is written on the running host: forged, older, the same version', async () => {
  const host = scenario.host!;
  // A new boot: the disk of bundles is mounted again.
  const before = await host.command(
    'mkdir -p /tmp/b && mount -o ro /dev/vdb /tmp/b && md5sum /dev/sda | cut -c1-32 > /tmp/sda.before',
  );
  assert.is(before.status, 0, before.output);
  for (const [bundle, reason] of [
    ['forged.mvu', /the signature is refused/],
    ['v1.mvu', /the bundle's version 0\.1\.0 is older than the running 0\.2\.0/],
  ] as const) {
    const refused = await host.command(`mvos update push /tmp/b/${bundle}`);
    assert.is(refused.status, 2, refused.output);
    assert.match(refused.output, reason);
  }
  const after = await host.command('md5sum /dev/sda | cut -c1-32 | cmp - /tmp/sda.before && echo DISK-UNCHANGED');
  assert.match(after.output, /^DISK-UNCHANGED/m, 'the boot disk changed');
});

test('v3, whose agent never starts, is tried once; init gives up at its deadline and the host is back on v2', async () => {
  const host = scenario.host!;
  const since = host.now;
  host.type('mvos update push /tmp/b/v3.mvu');
  await host.waitFor('0.3.0 written to slot a; rebooting into it', 300, since);
  await host.waitFor('mvos: trying slot a once', 300, since);
  const gaveUp = await host.waitFor(
    'update: 0.3.0 in slot a failed: the agent did not get ready within 30 s',
    300,
    since,
  );
  const back = await host.waitFor(agentReady('0.2.0'), 300, gaveUp);
  await host.waitFor(/update: 0\.3\.0 in slot a failed: .*; running 0\.2\.0/, 60, gaveUp);
  console.log(`  v3: pushed to back on v2 ${((back - since) / 1000).toFixed(1)} s`);
  const status = await host.command('mvos update status');
  assert.match(status.output, /slot a\s+0\.3\.0\s+bad/);
  assert.match(status.output, /the agent did not get ready within 30 s/);
  assert.match(status.output, /slot b\s+0\.2\.0\s+good\s+booted, boot slot/);
  await host.stop();
  scenario.host = undefined;
});

test.run();
