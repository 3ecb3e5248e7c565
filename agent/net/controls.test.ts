import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NetRule } from '../../common/host-config.ts';
import { TEST_NETWORKS, TEST_WIREGUARD } from '../../common/net/fixture.test-support.ts';
import { withTempDir } from '../../common/temp-dir.ts';
import { ControlError } from '../controls.ts';
import type { VmInstance } from '../supervisor/instance.ts';
import { NetControls, type NetControlsNeeds, tunnelStatus } from './controls.ts';

const VMS = ['router', 'probe', 'web', 'worker', 'db'];

// A running router that answers rule changes as told and reports counters.
function fakeRouter(reply: string, sent: string[]): VmInstance {
  const reports = new Map([['MVOS-NET-COUNTERS', 'MVOS-NET-COUNTERS vl1:1000:10:2000:20 uplink:5:5:5:5']]);
  return {
    reports,
    request: async (line: string) => {
      sent.push(line);
      return reply;
    },
  } as unknown as VmInstance;
}

function needs(
  stateDir: string,
  router: VmInstance | undefined,
  extra: Partial<NetControlsNeeds> = {},
): NetControlsNeeds {
  return {
    stateDir,
    vms: VMS,
    instance: (vm) => (vm === 'router' ? router : undefined),
    state: (vm) => (vm === 'router' && router ? 'ready' : 'stopped'),
    log: () => undefined,
    ...extra,
  };
}

const deny443: NetRule[] = [{ action: 'deny', proto: 'tcp', ports: [443, 443] }];

test("a VM's links: addresses and rules from the plan, counters from the router, seen from the VM", () =>
  withTempDir('mvos-net-', async (dir) => {
    const net = await NetControls.open(TEST_NETWORKS, needs(dir, fakeRouter('MVOS-NET-APPLIED 1', [])));
    const [web] = net.vmNet('web');
    assert.is(web!.address, '198.51.100.2');
    assert.is(web!.gateway, '198.51.100.1');
    assert.equal(web!.counters && { ...web!.counters, at: 'x' }, {
      sentBytes: 1000,
      sentPackets: 10,
      receivedBytes: 2000,
      receivedPackets: 20,
      at: 'x',
    });
    assert.equal(net.vmNet('router'), []);
    assert.equal(
      net.view().networks.map((n) => [n.name, n.vms]),
      [
        ['lab', ['probe']],
        ['lan', ['web', 'worker', 'db']],
      ],
    );
  }));

test('a rule change goes to the running router as one line, is kept on disk, and survives a new agent', () =>
  withTempDir('mvos-net-', async (dir) => {
    const sent: string[] = [];
    const net = await NetControls.open(TEST_NETWORKS, needs(dir, fakeRouter('MVOS-NET-APPLIED 1', sent)));
    const links = await net.setRules('web', deny443);
    assert.equal(links[0]!.rules, deny443);
    assert.is(sent.length, 1);
    const [verb, ruleset, count] = sent[0]!.split(' ');
    assert.is(verb, 'MVOS-NET-APPLY');
    assert.match(Buffer.from(ruleset!, 'base64').toString(), '"web: deny tcp to any port 443"');
    assert.ok(Number(count) > 0);
    assert.equal(JSON.parse(await readFile(join(dir, 'net', 'rules.json'), 'utf8')), { web: deny443 });
    const again = await NetControls.open(TEST_NETWORKS, needs(dir, undefined));
    assert.equal(again.vmNet('web')[0]!.rules, deny443);
    assert.equal(
      again.config!.links.find((l) => l.vm === 'web')!.rules,
      deny443,
      'what a router starting now is given',
    );
  }));

test('a refusing router keeps its rules and nothing is saved; bad rules and unreachable VMs are refused first', () =>
  withTempDir('mvos-net-', async (dir) => {
    const sent: string[] = [];
    const net = await NetControls.open(TEST_NETWORKS, needs(dir, fakeRouter('MVOS-NET-REFUSED nft: no', sent)));
    const refusal = async (name: string, rules: unknown, pattern: RegExp) => {
      try {
        await net.setRules(name, rules);
        assert.unreachable('should have thrown');
      } catch (error) {
        assert.instance(error, ControlError);
        assert.match((error as Error).message, pattern);
      }
    };
    await refusal('web', deny443, /router router refused the rules: nft: no/);
    await refusal('web', [{ action: 'allow', proto: 'any', ports: [1, 2] }], /ports need proto tcp or udp/);
    await refusal('web', [{ action: 'allow', proto: 'tcp', to: { vm: 'web' } }], /not reachable/);
    await refusal('router', deny443, /router is on no network/);
    await refusal(
      'web',
      Array.from({ length: 300 }, () => deny443[0]),
      /at most 256 rules/,
    );
    assert.is(sent.length, 1, 'only the first reached the router');
    assert.equal(net.vmNet('web')[0]!.rules, TEST_NETWORKS.links.find((l) => l.vm === 'web')!.rules);
    assert.is(await readFile(join(dir, 'net', 'rules.json'), 'utf8').catch(() => 'none'), 'none');
  }));

test('a bare-metal uplink the host cannot pass is named at start, in the view and in the log', () =>
  withTempDir('mvos-net-', async (dir) => {
    const sysfs = join(dir, 'sys');
    await mkdir(join(sysfs, 'bus/pci/devices'), { recursive: true });
    const lines: string[] = [];
    const pci = {
      ...TEST_NETWORKS,
      routers: [{ vm: 'router', uplink: { pci: ['0000:03:00.0'], mac: '02:00:00:00:00:01', ipv4: 'dhcp' as const } }],
    };
    const net = await NetControls.open(pci, needs(dir, undefined, { sysfs, log: (l) => lines.push(l) }));
    const [router] = net.view().routers;
    assert.is(router!.uplink, 'pci 0000:03:00.0');
    assert.match(router!.problems!.join('\n'), /no IOMMU groups/);
    assert.match(router!.problems!.join('\n'), /0000:03:00.0: no such PCI device/);
    assert.match(lines.join('\n'), /router: uplink: the host has no IOMMU groups/);
  }));

test("a tunnel's status comes from its router's last line; a line that is not one gives `unknown`, never garbage", () => {
  const vpn = TEST_WIREGUARD.networks[1]!.vpn!;
  const at = '2026-12-06T12:00:00.000Z';
  assert.equal(tunnelStatus(vpn, 'MVOS-VPN vpn0 wireguard up 198.51.100.200:51820 7 1500 900 198.51.100.2 3', at), {
    provider: 'wireguard',
    interface: 'vpn0',
    state: 'up',
    endpoints: ['198.51.100.200:51820/udp', 'vpn.example.test:51820/udp'],
    rxBytes: 1500,
    txBytes: 900,
    check: 'http://203.0.113.80/ip',
    endpoint: '198.51.100.200:51820',
    handshakeAgeS: 7,
    exitAddress: '198.51.100.2',
    exitAgeS: 3,
    at,
  });
  const down = tunnelStatus(vpn, 'MVOS-VPN vpn0 wireguard down - - 0 0 - -', at);
  assert.is(down.state, 'down');
  assert.is(down.endpoint, undefined);
  for (const bad of [
    undefined,
    'MVOS-VPN vpn1 wireguard up - - 0 0 - -',
    'MVOS-VPN vpn0 wireguard pwned - - 0 0 - -',
    'MVOS-VPN vpn0 wireguard up <script> 1 2 3 4 5',
    'MVOS-VPN vpn0 wireguard up - - 0 0 - - extra',
  ]) {
    const status = tunnelStatus(vpn, bad, at);
    assert.ok(status.state === 'unknown' || status.endpoint === undefined, `${bad}`);
    if (bad?.includes('<script>')) assert.is(status.endpoint, undefined);
  }
  assert.is(tunnelStatus(vpn, 'MVOS-VPN vpn0 wireguard pwned - - 0 0 - -', at).state, 'unknown');
});

test.run();
