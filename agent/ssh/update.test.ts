// `update` in the SSH jail: status, a bundle sent on stdin applied to the slot that did not boot, a forged one refused
// with its reason and nothing written, and the jail's words still checked.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testBundle, testManifest, testPayloads, testUpdateKey } from '../../common/update/bundle.test-support.ts';
import { testUpdateService } from '../update/esp.test-support.ts';
import { connect, run, startFixture } from './fixture.test-support.ts';

test('update status, update apply from stdin, a forged bundle refused, bad words refused', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mvos-ssh-update-'));
  const key = testUpdateKey();
  const payloads = testPayloads();
  const update = await testUpdateService(root, key.publicLine);
  const f = await startFixture({ update });
  try {
    const client = await connect(f.server.port, { key: f.alice.privateKey, code: await f.code() });
    const host = await run(client, 'status');
    assert.match(host.stdout, /update slot a booted; a 0.1.0 good\*, b - empty/);
    const status = await run(client, 'update');
    assert.is(status.code, 0, status.stderr);
    assert.match(status.stdout, /slot a\s+0\.1\.0\s+good/);
    const forged = await run(
      client,
      'update apply no-reboot',
      {},
      await testBundle(testManifest(payloads), testUpdateKey().privateKey, payloads),
    );
    assert.is(forged.code, 1);
    assert.match(forged.stderr, /invalid: bundle refused: the signature is refused/);
    assert.is(update.view().slots[1]!.state, 'empty');
    const reboot = await run(client, 'update apply', {}, Buffer.alloc(0));
    assert.match(reboot.stderr, /cannot reboot the machine/);
    const applied = await run(
      client,
      'update apply no-reboot',
      {},
      await testBundle(testManifest(payloads), key.privateKey, payloads),
    );
    assert.is(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /0\.2\.0 written to slot b/);
    assert.is(update.view().slots[1]!.state, 'pending');
    const words = await run(client, 'update apply now');
    assert.is(words.code, 2);
    assert.match(words.stderr, /takes reboot or no-reboot/);
    client.end();
  } finally {
    await f.cleanup();
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
