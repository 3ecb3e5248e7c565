// Signed A/B updates of a Secure Boot host: the raw disk of a db-signed UKI (v1, 0.1.0) boots under OVMF's secure-boot
// firmware with our keys enrolled and a variable store that lives across the host's reboots. A v2 UKI signed with
// another db key (its bundle signed with the right update key, so the host writes it) is tried once through BootNext,
// refused by the firmware, and the host is back on v1 by itself, status naming the firmware. The same version signed
// with our db key is tried once, boots under Secure Boot, passes its gate and is kept: the next plain reboot, with no
// BootNext, comes up on v2 again through BootOrder.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildHostImage, type HostImage, repoRoot } from '../../lib/host-image.ts';
import { type ConsoleHost, freshMachine, mvos } from '../../lib/update-lab.ts';
import { pinnedFirmware, secureBootVars } from '../101-secureboot-chain/firmware-boot.ts';

const RECIPE = join(repoRoot, 'qa/cases/029-update-secureboot/host-sb-update.yaml');
const HOST = 'multiverse-host-secureboot';
const REFUSED = /Access Denied|Security Violation/;

const dir = mkdtempSync(join(tmpdir(), 'mvos-qa-029-'));
let host: ConsoleHost | undefined;
let images: Record<'v1' | 'v2' | 'other', HostImage>;
const bundles = { v2: join(dir, 'v2.mvu'), other: join(dir, 'v2-other-db.mvu') };

function ready(version: string): RegExp {
  return new RegExp(`MVOS-AGENT-READY ${HOST} ${version.replaceAll('.', '\\.')} accel=`);
}

test.before(async () => {
  try {
    const env = { XDG_CONFIG_HOME: join(dir, 'config') };
    const keys = join(dir, 'config', 'mvos', 'keys');
    mvos(['keys', 'init'], env);
    // Another Secure Boot key set, with our update key: the host takes the bundle, the firmware must refuse the UKI.
    const otherEnv = { XDG_CONFIG_HOME: join(dir, 'other') };
    const otherKeys = join(dir, 'other', 'mvos', 'keys');
    mvos(['keys', 'init', '--dir', otherKeys], env);
    for (const file of ['update.key', 'update.pub']) copyFileSync(join(keys, file), join(otherKeys, file));
    const v2 = join(dir, 'v2.yaml');
    writeFileSync(v2, `extends: ${RECIPE}\nname: ${HOST}\nversion: 0.2.0\n`);
    mvos(['lock', v2], env);
    images = {
      v1: buildHostImage('qa/cases/029-update-secureboot/host-sb-update.yaml', { env, output: join(dir, 'v1') }),
      v2: buildHostImage(v2, { env, output: join(dir, 'v2') }),
      other: buildHostImage(v2, { env: otherEnv, output: join(dir, 'other-db') }),
    };
    mvos(['update', 'bundle', images.v2.dir, '--out', bundles.v2], env);
    mvos(['update', 'bundle', images.other.dir, '--out', bundles.other], env);
    const firmware = await pinnedFirmware();
    const vars = join(dir, 'vars.fd');
    await secureBootVars(firmware, keys, vars);
    host = await freshMachine(
      '029-update-secureboot',
      images.v1,
      dir,
      'BUNDLES',
      { 'v2.mvu': bundles.v2, 'other.mvu': bundles.other },
      { firmware: { type: 'ovmf-secureboot', code: firmware['ovmf-code-secboot'], vars } },
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

async function mountBundles(machine: ConsoleHost): Promise<string> {
  const mounted = await machine.command('mkdir -p /tmp/b && mount -o ro /dev/vdb /tmp/b && mvos update status');
  assert.is(mounted.status, 0, mounted.output);
  return mounted.output;
}

test('v1 boots under Secure Boot; a v2 signed with another db key is tried once, refused by the firmware, and the host is back on v1', async () => {
  const machine = host!;
  const v1 = await machine.waitFor(ready('0.1.0'), 420);
  console.log(`  v1 ready ${(v1 / 1000).toFixed(1)} s after QEMU started`);
  assert.match(machine.run.output, /Secure boot enabled|UEFI Secure Boot is enabled/);
  const status = await mountBundles(machine);
  assert.match(status, /slot a\s+0\.1\.0\s+good\s+booted, boot slot/);
  const since = machine.now;
  machine.type('mvos update push /tmp/b/other.mvu');
  await machine.waitFor('0.2.0 written to slot b; rebooting into it', 300, since);
  const refused = await machine.waitFor(REFUSED, 300, since);
  const back = await machine.waitFor(ready('0.1.0'), 420, refused);
  await machine.waitFor(/update: 0\.2\.0 in slot b failed: the firmware never started it/, 60, since);
  console.log(
    `  other db key: push to refused ${((refused - since) / 1000).toFixed(1)} s, back on v1 ${((back - since) / 1000).toFixed(1)} s`,
  );
  const after = await mountBundles(machine);
  assert.match(after, /slot a\s+0\.1\.0\s+good\s+booted, boot slot/);
  assert.match(after, /slot b\s+0\.2\.0\s+bad/);
  assert.match(after, /refused the UKI \(Secure Boot: not signed with a key in db\)/);
});

test('v2 signed with our db key is tried once, boots under Secure Boot, passes its gate, and a plain reboot stays on it', async () => {
  const machine = host!;
  const since = machine.now;
  machine.type('mvos update push /tmp/b/v2.mvu');
  await machine.waitFor('0.2.0 written to slot b; rebooting into it', 300, since);
  const v2 = await machine.waitFor(ready('0.2.0'), 420, since);
  const kept = await machine.waitFor('update: 0.2.0 in slot b passed its health gate and is kept', 420, since);
  assert.not.match(machine.run.outputSince(since), REFUSED);
  assert.match(machine.run.outputSince(since), /Secure boot enabled|UEFI Secure Boot is enabled/);
  console.log(
    `  v2: push to ready ${((v2 - since) / 1000).toFixed(1)} s, gate passed ${((kept - v2) / 1000).toFixed(1)} s after ready`,
  );
  const status = await mountBundles(machine);
  assert.match(status, /slot a\s+0\.1\.0\s+good/);
  assert.match(status, /slot b\s+0\.2\.0\s+good\s+booted, boot slot/);
  // No BootNext now: the firmware follows BootOrder, which the gate rewrote.
  const reboot = machine.now;
  machine.type('kill -TERM 1');
  const again = await machine.waitFor(ready('0.2.0'), 420, reboot);
  assert.not.match(machine.run.outputSince(reboot), /on trial/);
  console.log(`  a plain reboot: back on v2 in ${((again - reboot) / 1000).toFixed(1)} s`);
});

test.run();
