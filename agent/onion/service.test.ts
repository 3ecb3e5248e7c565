import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_ONION_CLIENTS } from '../../common/api-types.ts';
import { onionAuthKeypair } from '../../common/onion/client-auth.ts';
import { isOnionAddress, isSecretKeyFile } from '../../common/onion/service-key.ts';
import { withTempDir } from '../../common/temp-dir.ts';
import { ControlError } from '../controls.ts';
import { OnionService } from './service.ts';

// A service whose gateway answers every list and reports what the test says.
async function open(stateDir: string, report?: () => string | undefined) {
  const sent: string[] = [];
  const logs: string[] = [];
  const service = await OnionService.open(stateDir, 'torgw', {
    ssh: true,
    log: (line) => logs.push(line),
    report: report ?? (() => undefined),
    request: async (line) => {
      sent.push(line);
      return `MVOS-ONION-APPLIED ${line.length}`;
    },
  });
  return { service, sent, logs };
}

const refusedAs = async (kind: ControlError['kind'], call: () => Promise<unknown>): Promise<string> => {
  try {
    await call();
  } catch (error) {
    assert.instance(error, ControlError);
    assert.is((error as ControlError).kind, kind, (error as Error).message);
    return (error as Error).message;
  }
  throw new Error(`not refused (${kind})`);
};

test('the key is made once, kept 0600 on the state partition, and gives the same address on every start', () =>
  withTempDir('mvos-onion-', async (dir) => {
    const first = await open(dir);
    assert.ok(isOnionAddress(first.service.address));
    assert.match(first.logs.join('\n'), "the host's onion service is");
    assert.is((await stat(join(dir, 'onion', 'service.seed'))).mode & 0o777, 0o600);
    assert.is((await stat(join(dir, 'onion'))).mode & 0o777, 0o700);
    const again = await open(dir);
    assert.is(again.service.address, first.service.address);
    assert.not.match(again.logs.join('\n'), 'made the service key');
    const files = first.service.files();
    assert.ok(isSecretKeyFile(Buffer.from(files.key, 'base64')), "Tor's key file, in base64");
    assert.is(files.clients, '');
  }));

test('clients: enrolled by public key, kept across starts, handed to the gateway as NAME KEY lines', () =>
  withTempDir('mvos-onion-', async (dir) => {
    const { service, sent } = await open(dir);
    const laptop = onionAuthKeypair();
    const view = await service.add('laptop', laptop.publicKey, 'owner');
    assert.equal(
      view.clients.map((c) => [c.name, c.publicKey, c.by]),
      [['laptop', laptop.publicKey, 'owner']],
    );
    assert.is(sent.length, 1);
    const [verb, list] = sent[0]!.split(' ');
    assert.is(verb, 'MVOS-ONION-CLIENTS');
    assert.is(Buffer.from(list!, 'base64').toString(), `laptop ${laptop.publicKey}\n`);
    assert.is((await stat(join(dir, 'onion', 'clients.json'))).mode & 0o777, 0o600);
    const reopened = await open(dir);
    assert.is(reopened.service.files().clients, `laptop ${laptop.publicKey}\n`);
    await service.remove('laptop');
    assert.is(Buffer.from(sent[1]!.split(' ')[1] ?? '', 'base64').toString(), '');
  }));

test('abuse: names and keys of the wrong shape, duplicates, too many clients, unknown names', () =>
  withTempDir('mvos-onion-', async (dir) => {
    const { service, sent } = await open(dir);
    const key = onionAuthKeypair().publicKey;
    for (const name of ['', 'Laptop', '-x', 'a b', 'x'.repeat(33), 'a;reboot', 'a\nb', 7])
      await refusedAs('invalid', () => service.add(name, key, 'owner'));
    for (const bad of ['', 'a'.repeat(52), `${key}=`, key.slice(1), `${key.slice(0, 51)}1`, null])
      await refusedAs('invalid', () => service.add('laptop', bad, 'owner'));
    await service.add('laptop', key, 'owner');
    await refusedAs('conflict', () => service.add('laptop', onionAuthKeypair().publicKey, 'owner'));
    assert.match(await refusedAs('conflict', () => service.add('phone', key, 'owner')), 'another name');
    for (let i = 1; i < MAX_ONION_CLIENTS; i++) await service.add(`c${i}`, onionAuthKeypair().publicKey, 'owner');
    await refusedAs('conflict', () => service.add('one-more', onionAuthKeypair().publicKey, 'owner'));
    await refusedAs('not-found', () => service.remove('nobody'));
    assert.is(sent.length, MAX_ONION_CLIENTS, 'a refused change reaches no gateway');
  }));

test('a clients file that does not read enrols nobody (fail closed), and says so', () =>
  withTempDir('mvos-onion-', async (dir) => {
    await open(dir);
    await writeFile(join(dir, 'onion', 'clients.json'), '[{"name":"x;rm -rf /","publicKey":"A"}]');
    const { service, logs } = await open(dir);
    assert.equal(service.view().clients, []);
    assert.match(logs.join('\n'), 'no client is enrolled');
    await writeFile(join(dir, 'onion', 'service.seed'), 'c2hvcnQ=\n');
    try {
      await open(dir);
      assert.unreachable('a short seed was taken');
    } catch (error) {
      assert.match((error as Error).message, 'does not hold a 32-byte seed');
    }
  }));

test("serving only when the gateway's Tor reports this address, with clients, and a descriptor an HSDir took", () =>
  withTempDir('mvos-onion-', async (dir) => {
    let line: string | undefined;
    const { service } = await open(dir, () => line);
    assert.is(service.view().serving, false);
    line = `MVOS-ONION ${service.address} 1 yes`;
    assert.is(service.view().serving, true);
    line = `MVOS-ONION ${service.address} 1 no`;
    assert.is(service.view().serving, false, 'no HSDir has its descriptor yet');
    line = `MVOS-ONION ${service.address} 0 yes`;
    assert.is(service.view().serving, false);
    line = `MVOS-ONION ${'b'.repeat(56)}.onion 1 yes`;
    assert.is(service.view().serving, false, 'another address is not ours');
    assert.equal(service.view().ports, { ssh: 22, api: 80 });
  }));

test('a gateway that refuses the list: the change is refused with its reason', () =>
  withTempDir('mvos-onion-', async (dir) => {
    const service = await OnionService.open(dir, 'torgw', {
      ssh: false,
      log: () => undefined,
      report: () => undefined,
      request: async () => 'MVOS-ONION-REFUSED cannot write the clients',
    });
    const message = await refusedAs('conflict', () => service.add('laptop', onionAuthKeypair().publicKey, 'o'));
    assert.match(message, 'cannot write the clients');
    assert.equal(service.view().ports, { api: 80 });
    assert.ok((await readFile(join(dir, 'onion', 'clients.json'), 'utf8')).includes('laptop'), 'kept for its start');
  }));

test.run();
