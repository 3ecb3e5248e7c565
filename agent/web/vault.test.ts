// The WebUI's Vault section in Debian's Chromium: made with custodians (their cards shown once), a seed stored and its
// code equal to oathtool's, locked, a wrong passphrase refused on the page, unlocked with two of the three cards; the
// stored secret is never in the page.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startFixture } from '../api/fixture.test-support.ts';
import { VaultService } from '../vault/service.ts';
import { CHROMIUM, logInAs, openChromium } from './chromium.test-support.ts';

if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);

const SEED = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const PASS = 'webui vault passphrase';

test('make with custodians, store a seed, read its code, lock, refuse a wrong passphrase, unlock with two cards', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mvos-webui-vault-'));
  const vault = await VaultService.open(join(root, 'state'));
  const fx = await startFixture({ vault });
  const { context, page } = await openChromium(join(root, 'profile'), 60_000);
  try {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await logInAs(page, fx.url, 'alice', 'correct horse battery staple', await fx.code('alice'));
    await page.locator('#vault-create').waitFor();
    assert.match((await page.textContent('#vault-summary')) ?? '', /No vault yet/);
    await page.fill('#vault-new', PASS);
    await page.fill('#vault-again', PASS);
    await page.fill('#vault-threshold', '2');
    await page.fill('#vault-count', '3');
    await page.click('#vault-create button[type=submit]');
    await page.locator('#vault-cards:not([hidden])').waitFor();
    const cards = ((await page.textContent('#vault-cards')) ?? '').match(/MVOS-SHARE-1:[A-Z2-7-]+/g) ?? [];
    assert.is(cards.length, 3);
    await page.locator('#vault-add:not([hidden])').waitFor();
    await page.fill('#vault-name', 'github');
    await page.selectOption('#vault-kind', 'totp');
    await page.fill('#vault-secret', SEED);
    await page.click('#vault-add button[type=submit]');
    await page.locator('#vault-entries tr[data-entry="github"]').waitFor();
    await page.click('#vault-entries button[data-code="github"]');
    await page.locator('#vault-entries tr[data-entry="github"] .vault-code:not(:empty)').waitFor();
    const shown = (await page.textContent('#vault-entries tr[data-entry="github"] .vault-code')) ?? '';
    const now = spawnSync('oathtool', ['--totp', '-b', SEED], { encoding: 'utf8' }).stdout.trim();
    assert.ok(shown.includes(now), `${shown} vs oathtool ${now}`);
    assert.not.ok((await page.content()).includes(SEED), 'the seed is not in the page');
    assert.match((await page.textContent('#vault-ca')) ?? '', /SSH CA \(for TrustedUserCAKeys\): ssh-ed25519 /);

    await page.click('#vault-lock');
    await page.locator('#vault-unlock:not([hidden])').waitFor();
    assert.ok(await page.locator('#vault-cards').isHidden(), 'the cards are gone once locked');
    await page.fill('#vault-passphrase', 'not the passphrase');
    await page.click('#vault-unlock button[type=submit]');
    await page.locator('#message.error').waitFor();
    assert.match((await page.textContent('#message')) ?? '', /wrong passphrase \(1 failed in a row\)/);
    await page.fill('#vault-shares', `${cards[2]}\n${cards[0]}\n`);
    await page.click('#vault-unlock button[type=submit]');
    await page.locator('#vault-entries tr[data-entry="github"]').waitFor();
    assert.is(vault.view().state, 'unlocked');
    assert.equal(errors, [], 'the script ran without errors');
  } finally {
    await context.close();
    await fx.close();
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
