import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_NETWORKS, TEST_OPENVPN, TEST_WIREGUARD } from './fixture.test-support.ts';
import { loadedInNetns, matchesGolden } from './golden.test-support.ts';
import { compileRuleset } from './nftables.ts';
import { routerPlan } from './plan.ts';
import { routerFiles } from './router-files.ts';

const wireguard = routerPlan(TEST_WIREGUARD, 'gw')!;
const openvpn = routerPlan(TEST_OPENVPN, 'gw')!;

for (const [name, plan] of [
  ['wireguard', wireguard],
  ['openvpn', openvpn],
] as const) {
  test(`${name}: the gateway's ruleset, tunnels and dnsmasq files match their golden files`, () => {
    const files = routerFiles(plan);
    matchesGolden(`ruleset-${name}.json`, `${JSON.stringify(JSON.parse(files['ruleset.json']!), null, 1)}\n`);
    matchesGolden(`tunnels-${name}`, files.tunnels!);
    matchesGolden(`dnsmasq-${name}.conf`, files['dnsmasq.conf']!);
  });

  test(`${name}: nft accepts the ruleset (--check), loads it and reads back as many rules as the router expects`, () => {
    const run = loadedInNetns(routerFiles(plan)['ruleset.json']!);
    assert.is(run.status, 0, run.out);
    assert.is(Number(run.out.split('\n')[0]), compileRuleset(plan).rules, run.out);
    // The kill switch: before connection tracking, a tunnelled link never reaches the uplink, nor the uplink it.
    const forward = run.out.slice(run.out.indexOf('chain forward {'));
    const kill = forward.indexOf('oifname "uplink" drop');
    assert.ok(kill > 0 && kill < forward.indexOf('ct state established,related accept'), forward);
    assert.match(run.out, 'chain output {\n\t\ttype filter hook output priority filter; policy drop;');
    assert.match(run.out, 'oifname "uplink" ip daddr . meta l4proto . th dport @tunnel_peers accept');
    assert.match(run.out, 'oifname "vpn0" masquerade');
  });
}

test('wireguard: the endpoint given by address is in the peers set from the first load; the named one is not', () => {
  const run = loadedInNetns(routerFiles(wireguard)['ruleset.json']!);
  assert.match(run.out, 'elements = { 198.51.100.200 . udp . 51820 }');
  assert.not.match(run.out, 'vpn.example.test');
});

test('wireguard: the tunnelled VM leaves only through vpn0; the plain VM through the uplink; DNS only where plain', () => {
  const text = JSON.stringify(compileRuleset(wireguard).json);
  assert.match(text, '"inside: outbound allow through vpn0 only"');
  assert.match(text, '"outside: outbound allow"');
  assert.not.match(text, '"inside: DNS"', 'the router does not answer DNS on a VPN link');
  assert.match(text, '"outside: DNS"');
  assert.match(text, '"DNS for the networks without a tunnel"');
  const conf = routerFiles(wireguard)['dnsmasq.conf']!;
  assert.match(conf, 'dhcp-option=tag:private,option:dns-server,198.51.100.53');
  assert.match(conf, 'dhcp-option=tag:lan,option:dns-server,198.51.100.1');
});

test('openvpn: a router with only tunnels lets no DNS out at all, but the one-time endpoint lookup', () => {
  const text = JSON.stringify(compileRuleset(openvpn).json);
  assert.not.match(text, 'DNS for the networks without a tunnel');
  assert.match(text, 'resolving an endpoint, once');
});

test('a router without tunnels keeps the plain ruleset: no output chain, no tunnel sets', () => {
  const text = JSON.stringify(compileRuleset(routerPlan(TEST_NETWORKS, 'router')!).json);
  assert.not.match(text, 'tunnel_peers');
  assert.not.match(text, '"output"');
  assert.is(routerFiles(routerPlan(TEST_NETWORKS, 'router')!).tunnels, '');
});

test.run();
