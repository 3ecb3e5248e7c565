// The WebUI's Updates section in Debian's Chromium: the slots and their verdicts, a bundle chosen in the file field and
// applied (forged first: refused with the reason on the page, nothing written), and the events that name who did it.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testBundle, testManifest, testPayloads, testUpdateKey } from '../../common/update/bundle.test-support.ts';
import { startFixture } from '../api/fixture.test-support.ts';
import { testUpdateService } from '../update/esp.test-support.ts';
import { CHROMIUM, logInAs, openChromium } from './chromium.test-support.ts';

if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);

test('the Updates section shows the slots; a forged bundle is refused on the page, a signed one applied', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mvos-webui-update-'));
  const key = testUpdateKey();
  const payloads = testPayloads();
  await writeFile(
    join(root, 'forged.mvu'),
    await testBundle(testManifest(payloads), testUpdateKey().privateKey, payloads),
  );
  await writeFile(join(root, 'good.mvu'), await testBundle(testManifest(payloads), key.privateKey, payloads));
  let rebooted = 0;
  const update = await testUpdateService(root, key.publicLine, { reboot: () => rebooted++ });
  const fx = await startFixture({ update });
  const { context, page } = await openChromium(join(root, 'profile'), 60_000);
  try {
    await logInAs(page, fx.url, 'alice', 'correct horse battery staple', await fx.code('alice'));
    await page.locator('#update-slots tr[data-slot="a"]').waitFor();
    assert.match((await page.textContent('#update-slots tr[data-slot="a"]')) ?? '', /a0\.1\.0goodbooted, boot slot/);
    assert.match((await page.textContent('#update-slots tr[data-slot="b"]')) ?? '', /b—empty/);
    await page.setInputFiles('#update-file', join(root, 'forged.mvu'));
    await page.click('#update-form button[type=submit]');
    await page.locator('#message.error').waitFor();
    assert.match((await page.textContent('#message')) ?? '', /bundle refused: the signature is refused/);
    assert.is(update.view().slots[1]!.state, 'empty');
    await page.setInputFiles('#update-file', join(root, 'good.mvu'));
    await page.click('#update-form button[type=submit]');
    await page.locator('#update-slots tr[data-slot="b"] td.state-pending').waitFor();
    assert.match((await page.textContent('#update-events')) ?? '', /applied 0\.2\.0 \(slot b\) by alice/);
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(rebooted, 1, 'the host was asked to reboot once');
  } finally {
    await context.close();
    await fx.close();
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
