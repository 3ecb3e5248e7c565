import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../temp-dir.ts';
import { TEST_NETWORKS } from './fixture.test-support.ts';
import { matchesGolden } from './golden.test-support.ts';
import { compileRuleset } from './nftables.ts';
import { routerPlan } from './plan.ts';
import { linksFile, routerFiles } from './router-files.ts';

const dropAll = fileURLToPath(new URL('../../rootfs/router/overlay/etc/mvos/drop-all.json', import.meta.url));
const plan = routerPlan(TEST_NETWORKS, 'router')!;

// Runs a shell script in a network namespace of its own (gone when it exits), as the kernel's nftables sees it.
function inNetns(script: string): { status: number; out: string } {
  const run = spawnSync('unshare', ['--net', 'sh', '-ec', script], { encoding: 'utf8' });
  return { status: run.status ?? -1, out: `${run.stdout}${run.stderr}` };
}

test('the test plan compiles to the golden ruleset, dnsmasq configuration and links file', () => {
  const files = routerFiles(plan);
  matchesGolden('ruleset.json', `${JSON.stringify(JSON.parse(files['ruleset.json']!), null, 1)}\n`);
  matchesGolden('dnsmasq.conf', files['dnsmasq.conf']!);
  matchesGolden('links', files.links!);
  assert.is(files.rules, `${compileRuleset(plan).rules}\n`);
});

test('nft accepts the ruleset (--check), loads it, and reads back as many rules as the router expects', () =>
  withTempDir('mvos-nft-', async (dir) => {
    const file = join(dir, 'ruleset.json');
    writeFileSync(file, routerFiles(plan)['ruleset.json']!);
    const check = inNetns(`nft --check -j -f ${file}`);
    assert.is(check.status, 0, check.out);
    const load = inNetns(`nft -j -f ${file}; nft -j list ruleset | grep -o '"rule": {' | wc -l; nft list ruleset`);
    assert.is(load.status, 0, load.out);
    assert.is(Number(load.out.split('\n')[0]), compileRuleset(plan).rules, load.out);
    // Anti-spoofing on every link, in both families.
    for (const link of plan.links) {
      assert.match(load.out, `iifname "${link.ifname}" ether saddr != ${link.mac} drop`);
      assert.match(load.out, `iifname "${link.ifname}" ip saddr != ${link.address} drop`);
      assert.match(load.out, `iifname "${link.ifname}" arp saddr ether != ${link.mac} drop`);
    }
    assert.match(load.out, 'chain forward {\n\t\ttype filter hook forward priority filter; policy drop;');
    assert.match(load.out, 'chain input {\n\t\ttype filter hook input priority filter; policy drop;');
    assert.match(load.out, 'iifname "uplink" tcp dport 8080 dnat to 198.51.100.2:80');
    assert.match(load.out, 'ip daddr @dns_0 tcp dport 80 accept');
  }));

test('loading it again replaces the tables whole (no rule twice), in one transaction', () =>
  withTempDir('mvos-nft-', async (dir) => {
    const file = join(dir, 'ruleset.json');
    writeFileSync(file, routerFiles(plan)['ruleset.json']!);
    const twice = inNetns(
      `nft -j -f ${dropAll}; nft -j -f ${file}; nft -j -f ${file}; nft -j list ruleset | grep -o '"rule": {' | wc -l`,
    );
    assert.is(twice.status, 0, twice.out);
    assert.is(Number(twice.out.trim()), compileRuleset(plan).rules);
  }));

test('fail closed: a ruleset the kernel refuses changes nothing, and the drop-all tables stay', () =>
  withTempDir('mvos-nft-', async (dir) => {
    const broken = compileRuleset(plan).json;
    // The last rule jumps to a chain that does not exist: nft refuses the whole transaction.
    broken.nftables.push({
      add: { rule: { family: 'ip', table: 'mvos', chain: 'forward', expr: [{ jump: { target: 'nowhere' } }] } },
    });
    const file = join(dir, 'broken.json');
    writeFileSync(file, JSON.stringify(broken));
    const run = inNetns(`nft -j -f ${dropAll}; if nft -j -f ${file}; then echo LOADED; fi; nft list ruleset`);
    assert.not.match(run.out, 'LOADED');
    assert.not.match(run.out, 'chain spoof', 'nothing of the refused ruleset is in place');
    assert.match(run.out, 'chain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}');
    assert.match(run.out, 'chain output {\n\t\ttype filter hook output priority filter; policy drop;\n\t}');
  }));

test('a NIC passed through keeps its own MAC: the links file says pci, and the router takes the first NIC that is no link', () => {
  const uplink = { ...plan.router.uplink, tap: undefined, pci: ['0000:03:00.0'] };
  const pci = linksFile({ ...plan, router: { ...plan.router, uplink } });
  assert.is(pci.split('\n')[0], 'uplink uplink pci dhcp');
  const fixed = linksFile({
    ...plan,
    router: {
      ...plan.router,
      uplink: { ...uplink, ipv4: { address: '203.0.113.2/24', gateway: '203.0.113.1', dns: [] } },
    },
  });
  assert.is(fixed.split('\n')[0], 'uplink uplink pci 203.0.113.2/24 203.0.113.1');
});

test('a network without DNS gets no DNS rule; outbound deny refuses what no rule allowed', () => {
  const text = JSON.stringify(compileRuleset(plan).json);
  assert.not.match(text, '"probe: DNS"');
  assert.match(text, '"probe: outbound deny"');
  assert.match(text, '"web: outbound allow"');
});

test.run();
