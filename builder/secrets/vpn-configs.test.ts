import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../../common/errors.ts';
import { tunnelSealBinding } from '../../common/net/plan.ts';
import { decryptSecret, readSecretKey } from '../../common/secrets/otp-secret.ts';
import { withTempDir } from '../../common/temp-dir.ts';
import { PROVIDER_CONF } from '../net/vpn-config.test-support.ts';
import { networksConfig } from '../pipeline/network-plan.ts';
import { loadRecipe } from '../recipe/load.ts';
import type { NetworkSpec } from '../recipe/types.ts';
import { storeFiles } from './store.ts';
import { resolveVpnSecrets } from './vpn-configs.ts';

const CONF = `${PROVIDER_CONF}\n`;

function network(name: string, vpn: Partial<NonNullable<NetworkSpec['vpn']>> = {}, dns = true): NetworkSpec {
  return {
    name,
    router: 'gw',
    subnet: '203.0.113.0/28',
    dhcp: true,
    dns,
    outbound: 'allow',
    vpn: { config: 'provider.conf', dns: [], ...vpn },
  };
}

async function keyFolder(dir: string, mode = 0o600): Promise<string> {
  await mkdir(join(dir, 'vpn'), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'vpn', 'provider.conf'), CONF, { mode });
  await chmod(join(dir, 'vpn', 'provider.conf'), mode);
  return dir;
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, UserError);
    return `${(error as UserError).message} | ${(error as UserError).hint ?? ''}`;
  }
  throw new Error('not refused');
}

test('a provider file is sealed for its network alone, the same bytes each build, with the key the image ships', () =>
  withTempDir('mvos-vpn-', async (dir) => {
    const keys = await keyFolder(dir);
    const first = await resolveVpnSecrets([network('private')], keys);
    const again = await resolveVpnSecrets([network('private')], keys);
    const resolved = first.byNetwork.get('private')!;
    assert.is(again.byNetwork.get('private')!.sealed, resolved.sealed, 'deterministic');
    assert.not.match(resolved.sealed, 'PrivateKey');
    const key = await readSecretKey(storeFiles(keys).key);
    assert.ok(first.secretKey?.equals(key));
    assert.is(decryptSecret(key, tunnelSealBinding('private'), resolved.sealed), resolved.parsed.text);
    assert.throws(() => decryptSecret(key, tunnelSealBinding('other'), resolved.sealed), /does not open/);
    assert.equal(resolved.parsed.dns, ['198.51.100.53'], "the file's DNS when the recipe names none");
    const overridden = await resolveVpnSecrets([network('private', { dns: ['192.0.2.53'] })], keys);
    assert.equal(overridden.byNetwork.get('private')!.parsed.dns, ['192.0.2.53']);
  }));

test('no VPN network: no key is made or read', async () => {
  const none = await resolveVpnSecrets([], '/nonexistent');
  assert.is(none.byNetwork.size, 0);
  assert.is(none.secretKey, undefined);
});

test('a missing, shared, linked or DNS-less provider file is a clear refusal', () =>
  withTempDir('mvos-vpn-', async (dir) => {
    assert.match(await refusal(resolveVpnSecrets([network('private')], join(dir, 'none'))), 'no provider file');
    const open = await keyFolder(join(dir, 'open'), 0o644);
    assert.match(await refusal(resolveVpnSecrets([network('private')], open)), /open to group or others .*chmod 600/);
    const linked = join(dir, 'linked');
    await mkdir(join(linked, 'vpn'), { recursive: true });
    await symlink(join(open, 'vpn', 'provider.conf'), join(linked, 'vpn', 'provider.conf'));
    assert.match(await refusal(resolveVpnSecrets([network('private')], linked)), 'not a plain file');
    const keys = await keyFolder(join(dir, 'fine'));
    await writeFile(join(keys, 'vpn', 'provider.conf'), CONF.replace(/^dns = .*$/m, ''), { mode: 0o600 });
    assert.match(
      await refusal(resolveVpnSecrets([network('private')], keys)),
      /neither the recipe nor .* names a server/,
    );
    const quiet = await resolveVpnSecrets([network('private', {}, false)], keys);
    assert.equal(quiet.byNetwork.get('private')!.parsed.dns, [], 'a network without DNS needs none');
  }));

test("host.json: each router's tunnels numbered vpn0… with their own routing table, endpoints in the clear", () =>
  withTempDir('mvos-vpn-', async (dir) => {
    const keys = await keyFolder(dir);
    const { recipe, problems } = loadRecipe('qa/cases/023-vpn/host-vpn.yaml', process.cwd());
    assert.equal(problems, []);
    const vpn = new Map();
    for (const name of ['private', 'hidden']) {
      const resolved = (await resolveVpnSecrets([network(name)], keys)).byNetwork.get(name)!;
      vpn.set(name, resolved);
    }
    const config = networksConfig(recipe!, vpn)!;
    const tunnels = config.networks.map((n) => [n.name, n.vpn?.ifname, n.vpn?.table]);
    assert.equal(tunnels, [
      ['hidden', 'vpn0', 100],
      ['lan', undefined, undefined],
      ['private', 'vpn1', 101],
    ]);
    const privateVpn = config.networks.find((n) => n.name === 'private')!.vpn!;
    assert.is(privateVpn.check, 'http://203.0.113.80/ip');
    assert.ok(privateVpn.endpoints.length > 0 && privateVpn.endpoints.every((e) => e.host === e.host.toLowerCase()));
  }));

test.run();
