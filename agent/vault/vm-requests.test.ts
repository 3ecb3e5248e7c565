// What a VM may ask over its channel, against a real vault: every VM its own secrets and nothing else; the controller
// and the rescue VM also unlock (passphrase or cards) and drill, an application VM may not; malformed requests never
// reach the vault.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VaultService } from './service.ts';
import { vmRequests } from './vm-requests.ts';

const PASS = 'channel vault passphrase';
const b64 = (text: string) => Buffer.from(text).toString('base64');
const said = (answer: string) =>
  answer.startsWith('OK ') ? Buffer.from(answer.slice(3), 'base64').toString() : answer;

test('GET for every VM; UNLOCK, UNLOCK-SHARES and DRILL for the controller and rescue only', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mvos-vm-requests-'));
  try {
    const vault = await VaultService.open(dir);
    const { cards } = await vault.create(PASS, 'alice', { threshold: 2, shares: 3, label: 'drill' });
    await vault.put('db', { kind: 'password', secret: 'db secret', vm: 'app' });
    vault.lock('alice');
    const app = vmRequests(vault, { name: 'app', role: 'application' });
    const controller = vmRequests(vault, { name: 'controller', role: 'controller' });
    const rescue = vmRequests(vault, { name: 'rescue', role: 'rescue' });
    assert.is(await app('GET db'), 'NO locked');
    assert.is(await app(`UNLOCK ${b64(PASS)}`), 'NO only the controller and rescue VMs may unlock the vault');
    assert.is(await app(`DRILL ${cards[0]} ${cards[1]}`), 'NO only the controller and rescue VMs may drill the vault');
    assert.is(vault.view().unlock.failures, 0, 'refused before the gate');
    for (const bad of ['', 'GET', 'GET ../x', 'PUT db x', 'UNLOCK', 'UNLOCK not base64!', 'DRILL'])
      assert.match(await controller(bad), /^NO /, bad);
    assert.is(vault.view().unlock.failures, 0, 'malformed requests never reach the vault');

    assert.match(await controller(`UNLOCK ${b64('wrong passphrase')}`), /^NO wrong passphrase \(1 failed in a row\)$/);
    assert.match(
      await rescue(`DRILL ${cards[2]}`),
      /^NO drill failed: set \w+ needs any 2 of its 3 shares; 1 given \(3\)/,
    );
    const drill = said(await rescue(`DRILL ${cards[2]} ${cards[0]}`));
    assert.match(
      drill,
      /^drill passed: shares 1, 3 of set \w{8} \(any 2 of 3\) recover the vault key; nothing was unlocked$/,
    );
    assert.is(vault.view().state, 'locked', 'a drill unlocks nothing');
    assert.is(said(await rescue(`UNLOCK-SHARES ${cards[1]} ${cards[2]}`)), 'vault unlocked, 2 entries');
    assert.is(said(await app('GET db')), 'db secret');
    assert.is(await controller('GET db'), 'NO no such secret for this VM');
    vault.lock('alice');
    assert.is(said(await controller(`UNLOCK ${b64(PASS)}`)), 'vault unlocked, 2 entries');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
