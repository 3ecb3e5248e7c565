import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadRecipe } from '../recipe/load.ts';
import { derivedMac, networksConfig } from './network-plan.ts';

const { recipe, problems } = loadRecipe('recipes/examples/host-net.yaml', process.cwd());

test('the example network: the router first, VMs after it in order, MACs from names, links named per router', () => {
  assert.equal(problems, []);
  const config = networksConfig(recipe!)!;
  assert.equal(config.networks, [
    {
      name: 'lan',
      router: 'router',
      subnet: '198.51.100.0/24',
      dhcp: true,
      dns: true,
      outbound: 'allow',
      gateway: '198.51.100.1',
      prefix: 24,
    },
  ]);
  assert.equal(
    config.links.map((l) => [l.vm, l.ifname, l.address]),
    [
      ['web', 'vl0', '198.51.100.2'],
      ['worker', 'vl1', '198.51.100.3'],
    ],
  );
  assert.is(config.links[0]!.mac, derivedMac('lan/web/vm'));
  assert.match(config.links[0]!.mac, /^02(:[0-9a-f]{2}){5}$/);
  assert.is.not(config.links[0]!.mac, config.links[0]!.routerMac);
  assert.equal(config.links[1]!.rules, [{ action: 'allow', proto: 'tcp', to: { vm: 'web' }, ports: [80, 80] }]);
  assert.equal(config.links[0]!.forwards, [{ proto: 'tcp', port: 8080, to: 80 }]);
  assert.equal(config.routers, [
    { vm: 'router', uplink: { tap: { name: 'mvup0' }, mac: derivedMac('uplink/router'), ipv4: 'dhcp' } },
  ]);
});

test('a Tor gateway chained behind the router: a VM of lan whose link there is its uplink, Tor ports on its network', () => {
  const tor = loadRecipe('qa/cases/024-tor/host-tor.yaml', process.cwd());
  assert.equal(tor.problems, []);
  const config = networksConfig(tor.recipe!)!;
  const gateway = config.links.find((l) => l.vm === 'torgw')!;
  assert.is(gateway.network, 'lan');
  assert.equal(config.routers.find((r) => r.vm === 'torgw')!.uplink, {
    network: 'lan',
    mac: gateway.mac,
    ipv4: 'dhcp',
  });
  const onion = config.networks.find((n) => n.name === 'onion')!;
  assert.equal(onion.tor, { transPort: 9040, dnsPort: 5353 });
  assert.is(onion.vpn, undefined);
  assert.equal(
    config.links.filter((l) => l.network === 'onion').map((l) => [l.vm, l.ifname]),
    [
      ['anon', 'vl0'],
      ['anon2', 'vl1'],
    ],
  );
  // The gateway publishes the host's onion service: its local link has a MAC of its own.
  assert.match(config.routers.find((r) => r.vm === 'torgw')!.onion?.mac ?? '', /^02(:[0-9a-f]{2}){5}$/);
  assert.is(config.routers.find((r) => r.vm === 'router')!.onion, undefined);
});

test.run();
