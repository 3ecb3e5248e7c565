// A hang caught by the hardware watchdog: the host (scenario 026's, with host.watchdog: 20) runs under SeaBIOS with
// QEMU's i6300esb, and init arms it. v2 is pushed; on its try's boot, while the gate still waits for the controller, the
// watchdog's feeder is frozen, as a hung machine would leave it. The watchdog resets the machine (no shutdown runs),
// GRUB has cleared the try, and the host is back on v1 by itself, with v2 recorded as failed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildHostImage, type HostImage, repoRoot } from '../../lib/host-image.ts';
import { agentReady, type ConsoleHost, freshMachine, mvos } from '../../lib/update-lab.ts';

const RECIPE = 'qa/cases/030-update-watchdog/host-watchdog.yaml';
const dir = mkdtempSync(join(tmpdir(), 'mvos-qa-030-'));
let host: ConsoleHost | undefined;

test.before(async () => {
  try {
    const env = { XDG_CONFIG_HOME: join(dir, 'config') };
    mvos(['keys', 'init'], env);
    const v2Recipe = join(dir, 'v2.yaml');
    writeFileSync(v2Recipe, `extends: ${join(repoRoot, RECIPE)}\nname: multiverse-host\nversion: 0.2.0\n`);
    mvos(['lock', v2Recipe], env);
    const v1: HostImage = buildHostImage(RECIPE, { env, output: join(dir, 'v1') });
    const v2 = buildHostImage(v2Recipe, { env, output: join(dir, 'v2') });
    const bundle = join(dir, 'v2.mvu');
    mvos(['update', 'bundle', v2.dir, '--out', bundle], env);
    host = await freshMachine(
      '030-update-watchdog',
      v1,
      dir,
      'BUNDLES',
      { 'v2.mvu': bundle },
      {
        args: ['-device', 'i6300esb', '-action', 'watchdog=reset'],
      },
    );
  } catch (error) {
    console.error(error);
    throw error;
  }
});

test.after(async () => {
  await host?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('v1 arms the watchdog at boot', async () => {
  const machine = host!;
  const ready = await machine.waitFor(agentReady('0.1.0'), 420);
  assert.match(machine.run.output, /mvos-init: watchdog: armed, 20 s \(i6300ESB/);
  console.log(`  v1 ready ${(ready / 1000).toFixed(1)} s after QEMU started, watchdog armed`);
});

test("v2's try hangs (the watchdog's feeder frozen): the watchdog resets the machine and the host is back on v1", async () => {
  const machine = host!;
  const mounted = await machine.command('mkdir -p /tmp/b && mount -o ro /dev/vdb /tmp/b');
  assert.is(mounted.status, 0, mounted.output);
  const since = machine.now;
  machine.type('mvos update push /tmp/b/v2.mvu');
  await machine.waitFor('mvos: trying slot b once', 300, since);
  await machine.waitFor(agentReady('0.2.0'), 420, since);
  // The gate waits for the controller (nested TCG, a minute and more): v2 is still on trial.
  assert.not.match(machine.run.outputSince(since), /0\.2\.0 in slot b passed its health gate/);
  const frozen = machine.now;
  machine.type('kill -STOP $(pidof watchdog) && echo FEEDER-FROZEN');
  await machine.waitFor('FEEDER-FROZEN', 30, frozen);
  const back = await machine.waitFor(agentReady('0.1.0'), 420, frozen);
  const between = machine.run.outputSince(frozen);
  const reset = between.indexOf('mvos: booting multiverse-host 0.1.0 from slot a');
  assert.ok(reset > 0, 'the machine was reset, and GRUB booted slot a');
  assert.not.match(
    between.slice(0, reset),
    /reboot requested|stopping the agent/,
    'no shutdown ran: the watchdog reset it',
  );
  assert.not.match(between, /0\.2\.0 in slot b passed its health gate/);
  await machine.waitFor(/update: 0\.2\.0 in slot b failed: it did not come up/, 60, frozen);
  console.log(`  frozen to back on v1: ${((back - frozen) / 1000).toFixed(1)} s (watchdog 20 s)`);
  const status = await machine.command('mvos update status');
  assert.match(status.output, /slot a\s+0\.1\.0\s+good\s+booted, boot slot/);
  assert.match(status.output, /slot b\s+0\.2\.0\s+bad/);
});

test.run();
