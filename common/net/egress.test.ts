import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type QemuSpec, qemuArgv } from '../qemu/argv.ts';
import { EGRESS_UID, type EgressTarget } from './egress-link.ts';
import { TEST_NETWORKS, TEST_TOR } from './fixture.test-support.ts';
import { loadedInNetns } from './golden.test-support.ts';
import { compileRuleset } from './nftables.ts';
import { type RouterPlan, routerPlan } from './plan.ts';
import { egressFile, linksFile, routerFiles } from './router-files.ts';

const targets: EgressTarget[] = [
  { host: '192.0.2.10', port: 4222 },
  { host: 'nats2.example.net', port: 4223 },
];

function withEgress(plan: RouterPlan, list = targets): RouterPlan {
  return { ...plan, router: { ...plan.router, egress: { mac: '02:00:00:00:0b:01', targets: list } } };
}

// A router that filters its own output (it runs Tor), relaying the fleet's two brokers.
const gateway = withEgress(routerPlan(TEST_TOR, 'torgw')!);

test('the links file names the egress link, and the egress file one relay port per destination in order', () => {
  assert.match(linksFile(gateway), 'egress egress 02:00:00:00:0b:01 169.254.65.15/24 169.254.65.2\n');
  assert.is(egressFile(gateway), '7400 192.0.2.10 4222\n7401 nats2.example.net 4223\n');
  assert.is(egressFile(routerPlan(TEST_TOR, 'torgw')!), '', 'no egress, no file (the router reads none as empty)');
});

test("nft accepts it: the host reaches only its relays, nothing from the link is forwarded, and only the relays' user goes out to the destinations' ports", () => {
  const run = loadedInNetns(routerFiles(gateway)['ruleset.json']!);
  assert.is(run.status, 0, run.out);
  assert.is(Number(run.out.split('\n')[0]), compileRuleset(gateway).rules, run.out);
  assert.match(run.out, 'iifname "egress" ip saddr != 169.254.65.2 drop');
  assert.match(run.out, 'iifname "egress" tcp dport { 7400, 7401 } accept');
  assert.match(run.out, `oifname "egress" ip daddr 169.254.65.2 meta skuid ${EGRESS_UID} accept`);
  assert.match(run.out, `oifname "uplink" meta skuid ${EGRESS_UID} tcp dport { 4222, 4223 } accept`);
  assert.match(run.out, `oifname "uplink" meta skuid ${EGRESS_UID} udp dport 53 accept`, 'a named broker is resolved');
  const forward = run.out.slice(run.out.indexOf('chain forward {'), run.out.indexOf('chain prerouting_nat'));
  assert.not.match(forward, 'egress', 'nothing names the egress link in forward: its policy drops it');
});

test('destinations given as addresses need no DNS; a plain router that relays filters its own output too', () => {
  const byAddress = loadedInNetns(
    routerFiles(withEgress(routerPlan(TEST_TOR, 'torgw')!, [targets[0]!]))['ruleset.json']!,
  );
  assert.is(byAddress.status, 0, byAddress.out);
  assert.not.match(byAddress.out, `skuid ${EGRESS_UID} udp dport 53`);
  const plain = loadedInNetns(routerFiles(withEgress(routerPlan(TEST_NETWORKS, 'router')!))['ruleset.json']!);
  assert.is(plain.status, 0, plain.out);
  assert.match(plain.out, 'iifname "egress" tcp dport { 7400, 7401 } accept');
  assert.match(plain.out, 'chain output {\n\t\ttype filter hook output priority filter; policy drop;');
  assert.match(plain.out, `oifname "uplink" meta skuid ${EGRESS_UID} tcp dport { 4222, 4223 } accept`);
  assert.match(plain.out, 'oifname "uplink" udp dport 53 accept', "the plain network's DNS still goes out");
  assert.match(plain.out, 'iifname != { "lo", "vl0", "vl1", "vl2", "vl3", "uplink", "egress" } drop');
});

test("the relays' user is the one the router images have", () => {
  for (const image of ['router', 'tor-gateway']) {
    const passwd = readFileSync(new URL(`../../rootfs/${image}/overlay/etc/passwd`, import.meta.url), 'utf8');
    assert.match(passwd, `mvos-egress:x:${EGRESS_UID}:${EGRESS_UID}:`, image);
  }
});

test("QEMU forwards the host's loopback endpoints to the relays, and refuses a forward that listens off loopback", () => {
  const spec = (hostAddress: string): QemuSpec => ({
    machine: 'q35',
    accel: 'tcg',
    cpus: 1,
    memoryMiB: 128,
    kernel: '/k',
    serial: 'stdio',
    nics: [
      {
        id: 'egress',
        mac: '02:00:00:00:0b:01',
        backend: {
          restricted: {
            net: '169.254.65.0/24',
            host: '169.254.65.2',
            forwards: [],
            hostForwards: [{ hostAddress, hostPort: 4222, guestAddress: '169.254.65.15', guestPort: 7400 }],
          },
        },
      },
    ],
  });
  const netdev = qemuArgv(spec('127.77.0.1')).find((a) => a.startsWith('user,id=egress'));
  assert.is(
    netdev,
    'user,id=egress,restrict=on,ipv6=off,net=169.254.65.0/24,host=169.254.65.2,hostfwd=tcp:127.77.0.1:4222-169.254.65.15:7400',
  );
  assert.throws(() => qemuArgv(spec('0.0.0.0')), /loopback only/);
});

test.run();
