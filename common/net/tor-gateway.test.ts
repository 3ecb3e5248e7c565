import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../temp-dir.ts';
import { TEST_NETWORKS, TEST_TOR } from './fixture.test-support.ts';
import { loadedInNetns, matchesGolden } from './golden.test-support.ts';
import { compileRuleset, TOR_UID } from './nftables.ts';
import { type RouterPlan, routerPlan } from './plan.ts';
import { linksFile, routerFiles } from './router-files.ts';
import { torrcFile } from './torrc.ts';

const gateway = routerPlan(TEST_TOR, 'torgw')!;
// The same gateway for the onion service alone.
const onionOnly: RouterPlan = { ...gateway, networks: [], links: [] };

test("the Tor gateway's ruleset, torrc and links file match their golden files", () => {
  const files = routerFiles(gateway);
  matchesGolden('ruleset-tor.json', `${JSON.stringify(JSON.parse(files['ruleset.json']!), null, 1)}\n`);
  matchesGolden('torrc-tor', files.torrc!);
  matchesGolden('links-tor', files.links!);
});

test('nft accepts it: TCP and DNS go to Tor, nothing is forwarded, only Tor and DHCP leave through the uplink', () => {
  const run = loadedInNetns(routerFiles(gateway)['ruleset.json']!);
  assert.is(run.status, 0, run.out);
  assert.is(Number(run.out.split('\n')[0]), compileRuleset(gateway).rules, run.out);
  assert.match(run.out, 'iifname "vl0" udp dport 53 redirect to :5353');
  assert.match(run.out, 'iifname "vl1" meta l4proto tcp redirect to :9040');
  const forward = run.out.slice(run.out.indexOf('chain forward {'));
  assert.ok(forward.indexOf('iifname { "vl0", "vl1" } drop') < forward.indexOf('ct state'), forward);
  assert.match(run.out, `oifname "uplink" meta skuid ${TOR_UID} accept`);
  assert.not.match(run.out, 'oifname "uplink" udp dport 53 accept', 'no DNS out but through Tor');
  assert.not.match(run.out, 'jump from_vl', 'no per-link forward chains: nothing is forwarded');
});

test("a chained gateway's uplink is its own link on the upstream router's network, found by that link's MAC", () => {
  assert.is(linksFile(gateway).split('\n')[0], 'uplink uplink 02:00:00:00:08:01 dhcp');
  const upstream = routerPlan(TEST_TOR, 'router')!;
  assert.equal(
    upstream.links.map((l) => l.vm),
    ['torgw'],
    "the gateway is one of the upstream router's VMs",
  );
  assert.is(torrcFile(upstream), '', 'the upstream router runs no Tor');
  assert.is(torrcFile(routerPlan(TEST_NETWORKS, 'router')!), '');
});

test('tor --verify-config accepts the torrc, for the private test network and for the real one', () =>
  withTempDir('mvos-torrc-', async (dir) => {
    for (const [name, plan] of [
      ['testing', gateway],
      ['onion-only', onionOnly],
      [
        'real',
        {
          ...gateway,
          networks: gateway.networks.map((n) => (n.tor ? { ...n, tor: { transPort: 9040, dnsPort: 5353 } } : n)),
        },
      ],
    ] as const) {
      // The gateway's paths and user, moved into the test's folder (this machine has no debian-tor user to switch to).
      const data = join(dir, name);
      mkdirSync(data, { mode: 0o700 });
      const torrc = torrcFile(plan)
        .replace('User debian-tor\n', '')
        .replaceAll('/var/lib/tor', data)
        .replace(/^(TransPort|DNSPort) [\d.]+:/gm, '$1 127.0.0.1:');
      const file = join(dir, `${name}.torrc`);
      writeFileSync(file, torrc);
      const check = spawnSync('tor', ['--verify-config', '-f', file, '--defaults-torrc', '/dev/null'], {
        encoding: 'utf8',
      });
      assert.is(check.status, 0, `${name}: ${check.stdout}${check.stderr}`);
      assert.match(check.stdout, 'Configuration was valid');
    }
  }));

test("the onion service: Tor's streams to the agent's doors alone, on a link named by its MAC", () => {
  const run = loadedInNetns(routerFiles(gateway)['ruleset.json']!);
  assert.is(run.status, 0, run.out);
  assert.match(
    run.out,
    `oifname "agent" meta skuid ${TOR_UID} ip daddr 169.254.64.100 tcp dport { 22, 80 } accept`,
    'only Tor, only to the doors',
  );
  assert.match(run.out, 'iifname "agent" ip saddr != 169.254.64.100 drop');
  const input = run.out.slice(run.out.indexOf('chain input {'), run.out.indexOf('chain forward {'));
  assert.not.match(input, '"agent"', 'nothing on the link is accepted but established answers');
  assert.match(linksFile(gateway), 'onion agent 02:00:00:00:0a:01 169.254.64.15/24 169.254.64.100\n');
  const torrc = torrcFile(gateway);
  assert.match(torrc, 'HiddenServiceDir /var/lib/tor/onion\n');
  assert.match(torrc, 'HiddenServicePort 22 169.254.64.100:22\nHiddenServicePort 80 169.254.64.100:80\n');
  // A gateway for the onion alone still runs Tor, lets it out, and maps no addresses for VMs it does not have.
  const only = torrcFile(onionOnly);
  assert.match(only, 'HiddenServiceDir');
  assert.not.match(only, 'TransPort');
  assert.not.match(only, 'VirtualAddrNetworkIPv4');
  const loaded = loadedInNetns(routerFiles(onionOnly)['ruleset.json']!);
  assert.is(loaded.status, 0, loaded.out);
  assert.match(loaded.out, `oifname "uplink" meta skuid ${TOR_UID} accept`);
});

test('the torrc isolates each VM (its own circuits) and maps names to addresses a VM routes to its gateway', () => {
  const torrc = torrcFile(gateway);
  assert.match(torrc, 'TransPort 198.51.100.17:9040 IsolateClientAddr');
  assert.match(torrc, 'DNSPort 198.51.100.17:5353 IsolateClientAddr');
  assert.not.match(torrc, '0.0.0.0', 'never on the uplink');
  assert.match(torrc, 'VirtualAddrNetworkIPv4 10.192.0.0/10');
  assert.match(torrc, 'SocksPort 0');
});

test.run();
