// The update endpoints over the real API: a logged-in upload is applied, a refused bundle answers its reason on the
// same connection, no session is refused before a byte of the body is read, the body must declare its size and type,
// and an upload may take longer than the listener's request deadline while a slow JSON body may not.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ApiAnswers } from '../../common/api-types.ts';
import { testBundle, testManifest, testPayloads, testUpdateKey } from '../../common/update/bundle.test-support.ts';
import { parseGrubEnv } from '../../common/update/slots.ts';
import { testUpdateService } from '../update/esp.test-support.ts';
import { call, type Fixture, login, startFixture } from './fixture.test-support.ts';

const key = testUpdateKey();
const v2 = testPayloads();
const octets = { 'content-type': 'application/octet-stream' };

async function fixture(): Promise<{ fx: Fixture; esp: string }> {
  const { mkdtemp } = await import('node:fs/promises');
  const root = await mkdtemp('/tmp/mvos-update-api-');
  const esp = join(root, 'esp');
  const update = await testUpdateService(root, key.publicLine);
  const fx = await startFixture({ update, limits: { requestTimeoutMs: 600 } });
  const close = fx.close;
  fx.close = async () => {
    await close();
    const { rm } = await import('node:fs/promises');
    await rm(root, { recursive: true, force: true });
  };
  return { fx, esp };
}

test('a logged-in upload is applied to slot b; a refused one answers why; no session reads no body', async () => {
  const { fx, esp } = await fixture();
  try {
    const alice = await login(fx, 'alice');
    const bundle = await testBundle(testManifest(v2), key.privateKey, v2);
    const other = await testBundle(testManifest(v2), testUpdateKey().privateKey, v2);
    const anonymous = await call(fx.url, 'POST', '/api/update?reboot=no', { raw: [bundle], headers: octets });
    assert.is(anonymous.status, 401);
    const refused = await alice.call('POST', '/api/update?reboot=no', { raw: [other], headers: octets });
    assert.is(refused.status, 400, refused.text);
    assert.match(refused.text, /bundle refused: the signature is refused/);
    const wrongType = await alice.call('POST', '/api/update?reboot=no', { raw: [bundle] });
    assert.is(wrongType.status, 415);
    const badReboot = await alice.call('POST', '/api/update?reboot=maybe', { raw: [bundle], headers: octets });
    assert.is(badReboot.status, 400);
    const unsized = await alice.call('POST', '/api/update?reboot=no', {
      raw: [bundle],
      headers: { ...octets, 'transfer-encoding': 'chunked' },
    });
    assert.is(unsized.status, 411);
    // In three parts, each after more than the listener's request deadline.
    const third = Math.ceil(bundle.length / 3);
    const applied = await alice.call('POST', '/api/update?reboot=no', {
      raw: [bundle.subarray(0, third), bundle.subarray(third, 2 * third), bundle.subarray(2 * third)],
      gapMs: 400,
      headers: { ...octets, 'content-length': String(bundle.length) },
    });
    assert.is(applied.status, 200, applied.text);
    assert.equal(applied.json, {
      slot: 'b',
      version: '0.2.0',
      bytes: v2.vmlinuz.length + v2.initrd.length,
      rebooting: false,
    });
    assert.equal(readFileSync(join(esp, 'boot/b/initrd')), v2.initrd);
    assert.is(parseGrubEnv(readFileSync(join(esp, 'boot/grub/grubenv'))).try_slot, 'b');
    const view = (await alice.call('GET', '/api/update')).json as ApiAnswers['GET /api/update'];
    assert.equal(
      view.slots.map((s) => [s.slot, s.version, s.state]),
      [
        ['a', '0.1.0', 'good'],
        ['b', '0.2.0', 'pending'],
      ],
    );
    const rebootless = await alice.call('POST', '/api/update/rollback');
    assert.is(rebootless.status, 400, 'this agent cannot reboot');
  } finally {
    await fx.close();
  }
});

test('a JSON body slower than the request deadline is cut', async () => {
  const { fx } = await fixture();
  try {
    const alice = await login(fx, 'alice');
    const body = Buffer.from(JSON.stringify({ reason: 'slow' }));
    const slow = await alice
      .call('POST', '/api/rescue', {
        raw: [body.subarray(0, 5), body.subarray(5)],
        gapMs: 1500,
        headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      })
      .then(
        (a) => `answered ${a.status}`,
        (e: Error) => `cut: ${e.message}`,
      );
    assert.match(slow, /^cut: (socket hang up|read ECONNRESET)/);
  } finally {
    await fx.close();
  }
});

test.run();
