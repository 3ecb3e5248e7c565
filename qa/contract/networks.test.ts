// host.json's networks from the builder to the agent: what the builder writes the agent takes as it is, and the agent
// refuses values that would smuggle text into QEMU's arguments, the router's links file or dnsmasq's configuration.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkNetworks } from '../../agent/net/check.ts';
import { hostConfig } from '../../builder/pipeline/generated.ts';
import { loadRecipe } from '../../builder/recipe/load.ts';
import { TEST_OPENVPN, TEST_TOR, TEST_WIREGUARD } from '../../common/net/fixture.test-support.ts';

const recipe = loadRecipe('recipes/examples/host-net.yaml', process.cwd()).recipe;

test("the agent accepts the builder's networks as they are, and a host without networks has none", () => {
  const json = JSON.parse(JSON.stringify(hostConfig(recipe!)));
  const checked = checkNetworks(json.networks, ['router', 'web', 'worker']);
  assert.equal(checked.problems, []);
  assert.equal(checked.value, json.networks);
  const plain = loadRecipe('recipes/host.yaml', process.cwd()).recipe!;
  assert.is(hostConfig(plain).networks, null);
  assert.equal(checkNetworks(null, []), { problems: [] });
});

test('the agent refuses values that would smuggle text into QEMU, the links file or dnsmasq', () => {
  const json = JSON.parse(JSON.stringify(hostConfig(recipe!))).networks;
  json.links[0].mac = '02:00:00:00:00:01\nuplink x';
  json.links[0].ifname = 'vl0;reboot';
  json.links[1].rules[0].to = { name: 'example.test,dhcp-script=/bin/sh' };
  json.links[1].forwards = [{ proto: 'tcp', port: 70000, to: 80 }];
  json.routers[0].uplink.tap.name = 'mvup0,script=/x';
  json.networks[0].gateway = '198.51.100.1 server=1.2.3.4';
  const { value, problems } = checkNetworks(json, ['router', 'web', 'worker']);
  assert.is(value, undefined);
  assert.equal(problems.map((p) => p.path).sort(), [
    '/networks/links/0/ifname',
    '/networks/links/0/mac',
    '/networks/links/1/forwards/0/port',
    '/networks/links/1/rules/0/to/name',
    '/networks/networks/0/gateway',
    '/networks/routers/0/uplink/tap/name',
  ]);
});

test("a VPN network's tunnel: taken as written, and refused where a value would smuggle text into the router's files", () => {
  for (const fixture of [TEST_WIREGUARD, TEST_OPENVPN]) {
    const vms = [...fixture.routers.map((r) => r.vm), ...fixture.links.map((l) => l.vm)];
    const checked = checkNetworks(JSON.parse(JSON.stringify(fixture)), vms);
    assert.equal(checked.problems, []);
    assert.equal(checked.value, fixture);
  }
  const json = JSON.parse(JSON.stringify(TEST_WIREGUARD));
  const vpn = json.networks[1].vpn;
  vpn.ifname = 'vpn0 up;reboot';
  vpn.table = 254;
  vpn.endpoints[0].host = '198.51.100.200 51820 udp x\nvia vl0 vpn0';
  vpn.endpoints[1].peer = 'not a key';
  vpn.check = 'http://203.0.113.80/ip -O /etc/passwd';
  vpn.dns = ['198.51.100.53,1.2.3.4'];
  vpn.sealed = 'plaintext';
  const { value, problems } = checkNetworks(json, ['gw', 'outside', 'inside']);
  assert.is(value, undefined);
  // The network is refused whole, so its link names a network there is not.
  assert.equal(problems.map((p) => p.path).sort(), [
    '/networks/links/1/network',
    '/networks/networks/1/vpn/check',
    '/networks/networks/1/vpn/dns/0',
    '/networks/networks/1/vpn/endpoints/0/host',
    '/networks/networks/1/vpn/endpoints/1/peer',
    '/networks/networks/1/vpn/ifname',
    '/networks/networks/1/vpn/sealed',
    '/networks/networks/1/vpn/table',
  ]);
});

test('a Tor gateway chained behind the router, as the builder writes it, is taken as it is; a forged chain is not', () => {
  const tor = loadRecipe('qa/cases/024-tor/host-tor.yaml', process.cwd()).recipe!;
  const json = JSON.parse(JSON.stringify(hostConfig(tor))).networks;
  const checked = checkNetworks(json, ['router', 'torgw', 'anon', 'anon2']);
  assert.equal(checked.problems, []);
  assert.equal(checked.value, json);
  assert.equal(checkNetworks(JSON.parse(JSON.stringify(TEST_TOR)), ['router', 'torgw', 'anon', 'anon2']).problems, []);
  const forged = JSON.parse(JSON.stringify(TEST_TOR));
  forged.networks[1].tor.testingAuthorities = ['auth0 203.0.113.11:7000 X\nSocksPort 0.0.0.0:9050'];
  assert.equal(
    checkNetworks(forged, ['router', 'torgw', 'anon', 'anon2'])
      .problems.map((p) => p.path)
      .sort(),
    ['/networks/networks/1/tor/testingAuthorities/0'],
  );
  const own = JSON.parse(JSON.stringify(TEST_TOR));
  own.routers[1].uplink.mac = '02:00:00:00:09:01';
  assert.equal(
    checkNetworks(own, ['router', 'torgw', 'anon', 'anon2']).problems.map((p) => p.path),
    ['/networks/routers/1/uplink/network'],
  );
  // The onion link's MAC reaches QEMU's arguments and the router's links file: its shape only; one router publishes.
  for (const mac of ['02:00:00:00:0a:01,id=x', '02:00:00:00:0a:01 dhcp', 'ff:ff:ff:ff:ff:ff']) {
    const onion = JSON.parse(JSON.stringify(TEST_TOR));
    onion.routers[1].onion.mac = mac;
    assert.equal(
      checkNetworks(onion, ['router', 'torgw', 'anon', 'anon2']).problems.map((p) => p.path),
      ['/networks/routers/1/onion/mac'],
      mac,
    );
  }
  const twice = JSON.parse(JSON.stringify(TEST_TOR));
  twice.routers[0].onion = { mac: '02:00:00:00:0a:02' };
  assert.equal(
    checkNetworks(twice, ['router', 'torgw', 'anon', 'anon2']).problems.map((p) => p.message),
    ['one router at most publishes the onion'],
  );
});

test('the agent refuses names of VMs and networks the host does not have', () => {
  const json = JSON.parse(JSON.stringify(hostConfig(recipe!))).networks;
  json.links[0].network = 'wan';
  const { problems } = checkNetworks(json, ['router', 'worker']);
  assert.equal(
    problems.map((p) => p.message),
    ['names no VM of this host ("web")', 'names no network ("wan")'],
  );
});

test.run();
