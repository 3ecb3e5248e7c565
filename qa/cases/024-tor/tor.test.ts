// A Tor network end to end: the router owns the uplink (a tap in the test's "internet", where a private Tor network
// runs: three authorities, a middle relay and an exit, from Debian's tor), and a Tor gateway VM chained behind it (its
// uplink is its link on the router's `lan`) serves `onion`. What must hold: the VM on `onion` fetches a page from the
// internet's server, which sees the Tor exit's address, never the router's; its names are answered by Tor, whichever
// server it asks; its other UDP and its ICMP get nowhere; and the capture on the uplink holds nothing from the router
// but DHCP, ARP and TCP to the Tor relays.

import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { unpackInitramfs } from '../../../builder/archive/unpack.ts';
import { derivedMac } from '../../../builder/pipeline/network-plan.ts';
import type { NetworksView } from '../../../common/api-types.ts';
import { AgentRun, apiCall, consoleShell, killVms, reportingSetUp, type ScenarioConfig } from '../../lib/agent-run.ts';
import { ARTIFACTS } from '../../lib/boot.ts';
import { buildHostImage } from '../../lib/host-image.ts';
import { INTERNET_NAME, INTERNET_PAGE, Internet } from '../../lib/internet.ts';
import { DIR_PORT, OR_PORT, TorLab } from '../../lib/tor-lab.ts';

const BOOT_MS = 240_000;
const NETNS = 'mvq-torinet';
const TAP = 'mvtor0';
const INTERNET = '203.0.113.1';
const ROUTER_UPLINK = '203.0.113.2';
const NAMES = ['router', 'torgw', 'anon'];
const ROUTER_MAC = derivedMac('uplink/router');
const dir = join(ARTIFACTS, '024-tor');
let internet: Internet;
let lab: TorLab;
let run: AgentRun;

function sh(vm: string, command: string, timeoutMs = 60_000): Promise<{ out: string; rc: number }> {
  return consoleShell(run.stateDir, vm, command, timeoutMs);
}

test.before(reportingSetUp(setUp));

async function setUp(): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  internet = await Internet.forRouter({
    netns: NETNS,
    dir,
    tap: TAP,
    address: INTERNET,
    range: ['203.0.113.20', '203.0.113.30'],
    router: { mac: ROUTER_MAC, address: ROUTER_UPLINK },
  });
  lab = await TorLab.start({ dir: join(dir, 'tor'), netns: NETNS, nameserver: INTERNET });
  const image = buildHostImage('qa/cases/024-tor/host-tor.yaml');
  const root = await unpackInitramfs(image.initrd, join(ARTIFACTS, 'host-roots'));
  const config = JSON.parse(await readFile(join(root, 'etc/mvos/host.json'), 'utf8')) as ScenarioConfig;
  config.vms = config.vms.filter((vm) => NAMES.includes(vm.name));
  const nets = config.networks as {
    routers: Array<{ vm: string; uplink: { tap?: { netns?: string } } }>;
    networks: Array<{ name: string; tor?: { testingAuthorities?: string[] } }>;
  };
  nets.routers.find((r) => r.vm === 'router')!.uplink.tap!.netns = NETNS;
  // The private Tor network instead of the real one.
  nets.networks.find((n) => n.name === 'onion')!.tor!.testingAuthorities = lab
    .dirAuthorityLines()
    .map((line) => line.replace(/^DirAuthority /, ''));
  run = await AgentRun.start({ root, config, dir });
  await run.waitForReady(NAMES, BOOT_MS);
}

test.after(async () => {
  await run?.kill('SIGKILL');
  await killVms(join(dir, 'state'), NAMES);
  await lab?.stop();
  await internet?.stop();
});

test("the gateway's Tor bootstraps through the router it is chained behind", async () => {
  const until = Date.now() + Number(process.env.MVOS_TOR_WAIT_MS ?? 240_000);
  let percent: number | undefined;
  while (Date.now() < until) {
    const view = (await apiCall(run, 'GET', '/api/networks')).json as NetworksView;
    percent = view.networks.find((n) => n.name === 'onion')?.torBootstrap;
    if (percent === 100) break;
    await sleep(3000);
  }
  if (percent !== 100) {
    // What the gateway's Tor said, for the failure's message.
    const log = await sh('torgw', 'ps; tail -n 30 /run/tor.out; tail -n 40 /var/lib/tor/notice.log', 30_000);
    assert.unreachable(`Tor did not bootstrap (last ${percent}%):\n${log.out}`);
  }
});

test('a VM on the Tor network fetches a page by name; the server sees the Tor exit, never the router', async () => {
  const page = await sh(
    'anon',
    `for i in $(seq 20); do wget -q -T 20 -O - http://${INTERNET_NAME}/ && break; sleep 3; done`,
    300_000,
  );
  assert.match(page.out, INTERNET_PAGE, page.out);
  const seen = internet.requestsFrom();
  assert.ok(seen.length > 0, 'the server saw the request');
  assert.ok(
    seen.every((from) => lab.exitAddresses().includes(from)),
    `the server saw ${seen.join(', ')}; the exit is ${lab.exitAddresses().join(', ')}`,
  );
});

test('its DNS is answered by Tor whatever server it asks; its other UDP and its ICMP get nowhere', async () => {
  // Asked of the internet's own server, the answer still comes from Tor (the capture below shows no DNS leaving).
  const dns = await sh('anon', `nslookup -type=a ${INTERNET_NAME} ${INTERNET} 2>&1; echo rc=$?`, 60_000);
  assert.match(dns.out, `Address: ${INTERNET}`, dns.out);
  // UDP probes (traceroute's): the gateway may answer the first hop, nothing beyond it is reached.
  const udp = await sh('anon', `traceroute -n -m 3 -w 1 -q 1 -p 9999 ${INTERNET} 2>&1`, 60_000);
  assert.match(udp.out, `traceroute to ${INTERNET}`, udp.out);
  assert.not.match(udp.out, /^\s*[23]\s+\d/m, `a UDP probe got past the gateway:\n${udp.out}`);
  const ping = await sh('anon', `ping -c 2 -W 2 ${INTERNET} 2>&1; echo rc=$?`);
  assert.match(ping.out, /rc=[1-9]/, ping.out);
});

test('the capture on the uplink: nothing from the router but DHCP, ARP and TCP to the Tor relays', async () => {
  const relays = lab.relays.map((r) => `host ${r.address}`).join(' or ');
  const allowed = `arp or (udp src port 68 and udp dst port 67) or (tcp and (${relays}) and (port ${OR_PORT} or port ${DIR_PORT}))`;
  const unexpected = internet.capturedLines(`ether src ${ROUTER_MAC} and not (${allowed})`);
  assert.equal(unexpected, [], 'only Tor, DHCP and ARP leave the router');
  assert.ok(internet.captured(`ether src ${ROUTER_MAC} and tcp and (${relays})`) > 0, 'Tor traffic was seen');
  assert.is(
    internet.captured(`ether src ${ROUTER_MAC} and ((udp and not port 67) or icmp or ip6)`),
    0,
    'no UDP, ICMP or IPv6',
  );
});

test.run();
