// The medium watch on a folder: the newest bundle that is for this host and newer is applied once; older ones, other
// files and a medium left in are left alone; a refused bundle is named in the records once.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testBundle, testManifest, testPayloads, testUpdateKey } from '../../common/update/bundle.test-support.ts';
import { testUpdateService } from './esp.test-support.ts';
import { folderMedium, MediumWatch } from './medium.ts';

const key = testUpdateKey();
const payloads = testPayloads();

async function setup() {
  const root = mkdtempSync(join(tmpdir(), 'mvos-medium-'));
  const medium = join(root, 'medium');
  mkdirSync(medium);
  const service = await testUpdateService(root, key.publicLine);
  const lines: string[] = [];
  const watch = new MediumWatch(folderMedium(medium), service, (l) => lines.push(l));
  return { root, medium, service, watch, lines };
}

test('the newest applicable bundle is applied once; older, foreign and non-bundles are left alone', async () => {
  const { root, medium, service, watch, lines } = await setup();
  try {
    await watch.check();
    assert.equal(lines, [], 'an empty medium');
    const bundle = (over: Parameters<typeof testManifest>[1]) =>
      testBundle(testManifest(payloads, over), key.privateKey, payloads);
    writeFileSync(join(medium, 'a-old.mvu'), await bundle({ version: '0.1.0' }));
    writeFileSync(join(medium, 'b-new.mvu'), await bundle({ version: '0.3.0' }));
    writeFileSync(join(medium, 'c-mid.mvu'), await bundle({ version: '0.2.0' }));
    writeFileSync(join(medium, 'd-other.mvu'), await bundle({ version: '0.4.0', host: 'other-host' }));
    writeFileSync(join(medium, 'e-junk.mvu'), 'not a bundle');
    writeFileSync(join(medium, 'notes.txt'), 'ignored');
    await watch.check();
    const view = service.view();
    assert.equal([view.slots[1]!.version, view.slots[1]!.state], ['0.3.0', 'pending']);
    assert.is(view.events.at(-1)?.by, 'medium');
    assert.ok(lines.some((l) => /a-old.mvu \(0.1.0\) is left alone: 0.1.0 is not newer/.test(l)));
    assert.ok(lines.some((l) => /d-other.mvu \(0.4.0\) is left alone: it is for host other-host/.test(l)));
    assert.ok(lines.some((l) => /e-junk.mvu is not a bundle/.test(l)));
    const before = lines.length;
    await watch.check();
    assert.is(lines.length, before, 'a medium left in is read once');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a refused bundle is named once in the records, and the next one of the same version is applied', async () => {
  const { root, medium, service, watch } = await setup();
  try {
    writeFileSync(
      join(medium, 'a-forged.mvu'),
      await testBundle(testManifest(payloads), testUpdateKey().privateKey, payloads),
    );
    await watch.check();
    await watch.check();
    const refused = service.view().events.filter((e) => e.event === 'medium refused');
    assert.is(refused.length, 1);
    assert.match(refused[0]!.detail!, /signature is refused/);
    assert.is(service.view().slots[1]!.state, 'empty');
    writeFileSync(join(medium, 'b-good.mvu'), await testBundle(testManifest(payloads), key.privateKey, payloads));
    await watch.check();
    assert.is(service.view().slots[1]!.state, 'pending');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
