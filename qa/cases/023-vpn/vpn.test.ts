// VPN networks with a kill switch, end to end: a router VM holds a WireGuard tunnel (network `private`, its endpoint a
// DNS name resolved once and pinned) and an OpenVPN tunnel (`hidden`) to real servers in a namespace of the test, and
// routes `lan` plainly beside them. Its uplink is a tap in the test's "client side" namespace, captured from before
// the router boots to the end. What must hold: a VM on a VPN network reaches the "internet" only through its tunnel
// (the server sees the VPN server's address) and resolves through it; the plain VM goes out directly; the status
// shows each tunnel up with its exit address; a tunnel restart and a VPN server that dies let nothing out (the VM's
// connections fail within seconds); and the capture holds nothing from the router but tunnel packets to the
// endpoints, DHCP, the one-time lookup of the endpoint's name and the plain VM's own traffic: no IPv6, no other DNS.

import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { unpackInitramfs } from '../../../builder/archive/unpack.ts';
import { derivedMac } from '../../../builder/pipeline/network-plan.ts';
import type { NetworksView, NetworkView } from '../../../common/api-types.ts';
import { AgentRun, apiCall, consoleShell, killVms, reportingSetUp, type ScenarioConfig } from '../../lib/agent-run.ts';
import { ARTIFACTS } from '../../lib/boot.ts';
import { buildHostImage, repoRoot } from '../../lib/host-image.ts';
import {
  OPENVPN_PORT,
  ROUTER_UPLINK,
  SECRET_NAME,
  VPN_DNS,
  VPN_PAGE,
  VPN_SERVER,
  VPN_SERVER_NAME,
  VpnLab,
  WEB_PLAIN,
  WEB_VPN,
  WIREGUARD_PORT,
} from '../../lib/vpn-lab.ts';

const BOOT_MS = 240_000;
const RECIPE = 'qa/cases/023-vpn/host-vpn.yaml';
const NAMES = ['gw', 'outside', 'inside', 'hidden'];
const ROUTER_MAC = derivedMac('uplink/gw');
const dir = join(ARTIFACTS, '023-vpn');
let lab: VpnLab;
let run: AgentRun;

// Runs a shell command on a VM's console.
function sh(vm: string, command: string, timeoutMs = 60_000): Promise<{ out: string; rc: number }> {
  return consoleShell(run.stateDir, vm, command, timeoutMs);
}

async function networks(): Promise<NetworksView> {
  const answer = await apiCall(run, 'GET', '/api/networks');
  assert.is(answer.status, 200);
  return answer.json as NetworksView;
}

async function tunnel(name: string): Promise<NonNullable<NetworkView['tunnel']>> {
  const found = (await networks()).networks.find((n) => n.name === name);
  assert.ok(found?.tunnel, `network ${name} shows no tunnel`);
  return found.tunnel;
}

// Waits until the network's tunnel shows what `ready` wants (the router reports every 5 s).
async function tunnelUntil(
  name: string,
  ready: (t: NonNullable<NetworkView['tunnel']>) => boolean,
  what: string,
  timeoutMs = 90_000,
): Promise<NonNullable<NetworkView['tunnel']>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = await tunnel(name);
    if (ready(status)) return status;
    if (Date.now() > until)
      throw new Error(`tunnel of ${name}: not ${what} within ${timeoutMs} ms: ${JSON.stringify(status)}`);
    await sleep(2000);
  }
}

async function leased(vm: string): Promise<void> {
  const got = await sh(
    vm,
    'for i in $(seq 60); do ip -4 addr show eth0 | grep -q "inet " && break; sleep 1; done; ip -4 addr show eth0 | grep -c "inet "',
    90_000,
  );
  assert.is(got.rc, 0, `${vm} got no lease:\n${got.out}`);
}

test.before(reportingSetUp(setUp));

async function setUp(): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // The capture starts here, before the router exists.
  lab = await VpnLab.start({ dir, tap: 'mvvpn0', hosts: [{ mac: ROUTER_MAC, address: ROUTER_UPLINK }] });
  // A key folder of the test's own, with the provider files of the lab's servers (the WireGuard endpoint by name).
  const config = join(dir, 'config');
  const vpnDir = join(config, 'mvos', 'keys', 'vpn');
  await mkdir(vpnDir, { recursive: true, mode: 0o700 });
  await writeFile(join(vpnDir, 'wireguard.conf'), lab.wireguardClientConf({ hostnameEndpoint: true }), { mode: 0o600 });
  await writeFile(join(vpnDir, 'openvpn.ovpn'), lab.openvpnClientConf(), { mode: 0o600 });
  await chmod(join(config, 'mvos', 'keys'), 0o700);
  const image = buildHostImage(RECIPE, { env: { XDG_CONFIG_HOME: config } });
  const root = await unpackInitramfs(image.initrd, join(ARTIFACTS, 'host-roots'));
  const hostConfig = JSON.parse(await readFile(join(root, 'etc/mvos/host.json'), 'utf8')) as ScenarioConfig;
  hostConfig.vms = hostConfig.vms.filter((vm) => NAMES.includes(vm.name));
  const nets = hostConfig.networks as { routers: Array<{ uplink: { tap: { netns?: string } } }> };
  nets.routers[0]!.uplink.tap.netns = lab.clientNetns;
  run = await AgentRun.start({ root, config: hostConfig, dir });
  await run.waitForReady(NAMES, BOOT_MS);
}

test.after(async () => {
  await run?.kill('SIGKILL');
  await killVms(join(dir, 'state'), NAMES);
  await lab?.stop();
});

test('the plain network beside the tunnels goes out directly: the server sees the router', async () => {
  await leased('outside');
  const page = await sh('outside', `wget -q -T 10 -O - http://${WEB_PLAIN}/`);
  assert.is(page.rc, 0, page.out);
  assert.match(page.out, VPN_PAGE);
  assert.ok(
    lab.requests().some((r) => r.from === ROUTER_UPLINK),
    JSON.stringify(lab.requests()),
  );
});

for (const [vm, network, provider] of [
  ['inside', 'private', 'wireguard'],
  ['hidden', 'hidden', 'openvpn'],
] as const) {
  test(`${provider}: ${vm} reaches the internet only through the tunnel, and resolves through it`, async () => {
    await leased(vm);
    await tunnelUntil(network, (t) => t.state === 'up', 'up');
    const before = lab.requests().length;
    const page = await sh(vm, `wget -q -T 10 -O - http://${WEB_VPN}/`);
    assert.is(page.rc, 0, page.out);
    assert.match(page.out, VPN_PAGE);
    const seen = lab.requests().slice(before);
    assert.ok(seen.length > 0 && seen.every((r) => r.from === VPN_SERVER), JSON.stringify(seen));
    assert.match((await sh(vm, 'cat /etc/resolv.conf')).out, `nameserver ${VPN_DNS}`);
    const name = `${vm}.${SECRET_NAME}`;
    const lookup = await sh(vm, `nslookup -type=a ${name}`);
    assert.is(lookup.rc, 0, lookup.out);
    assert.match(lookup.out, WEB_VPN);
    assert.ok(lab.vpnDnsQueries().includes(name), `the VPN's DNS saw ${lab.vpnDnsQueries().join(', ')}`);
    assert.not.ok(lab.uplinkDnsQueries().includes(name), 'the query never reached the uplink');
  });
}

test('status: each tunnel up with its endpoint, handshake, bytes and the exit address the outside sees', async () => {
  const wg = await tunnelUntil('private', (t) => t.exitAddress !== undefined, 'checked');
  assert.is(wg.provider, 'wireguard');
  assert.is(wg.endpoint, `${VPN_SERVER}:${WIREGUARD_PORT}`, 'the name was pinned to its address');
  assert.equal(wg.endpoints, [`${VPN_SERVER_NAME}:${WIREGUARD_PORT}/udp`]);
  assert.ok(wg.handshakeAgeS !== undefined && wg.handshakeAgeS < 180, JSON.stringify(wg));
  assert.ok(wg.rxBytes > 0 && wg.txBytes > 0, JSON.stringify(wg));
  assert.is(wg.exitAddress, VPN_SERVER);
  const ovpn = await tunnelUntil('hidden', (t) => t.exitAddress !== undefined, 'checked');
  assert.is(ovpn.endpoint, `${VPN_SERVER}:${OPENVPN_PORT}`);
  assert.is(ovpn.exitAddress, VPN_SERVER);
  // The VM's own view names its way out.
  const links = (await apiCall(run, 'GET', '/api/vms/inside/net')).json as Array<{ tunnel?: { exitAddress?: string } }>;
  assert.is(links[0]?.tunnel?.exitAddress, VPN_SERVER);
  assert.not.ok(JSON.stringify(await networks()).includes('sealed'), 'the API never shows the provider file');
  // What a user reads: `mvos net status`.
  const cli = spawnSync(join(repoRoot, 'mvos'), ['net', 'status', '--socket', join(run.dir, 'run', 'agent.sock')], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  assert.is(cli.status, 0, cli.stderr);
  assert.match(
    cli.stdout,
    new RegExp(`^private\\s+wireguard\\s+up\\s+${VPN_SERVER}:${WIREGUARD_PORT}\\s+\\d+s ago`, 'm'),
  );
  assert.match(
    cli.stdout,
    new RegExp(`^hidden\\s+openvpn\\s+up\\s+${VPN_SERVER}:${OPENVPN_PORT}.*${VPN_SERVER} \\(`, 'm'),
  );
});

test('a tunnel restart lets nothing out meanwhile, and the tunnel comes back', async () => {
  // The VM keeps trying while the tunnel goes down and up.
  const trying = sh(
    'inside',
    `for i in $(seq 20); do wget -q -T 2 -O /dev/null http://${WEB_VPN}/ && echo OK || echo FAIL; sleep 0.5; done`,
    120_000,
  );
  await sleep(2000);
  const restarted = await apiCall(run, 'POST', '/api/networks/private/restart');
  assert.is(restarted.status, 200, JSON.stringify(restarted.json));
  const attempts = await trying;
  assert.match(attempts.out, 'FAIL', 'the restart took the tunnel down for a while');
  await tunnelUntil('private', (t) => t.state === 'up' && (t.handshakeAgeS ?? 999) < 30, 'up again');
  const page = await sh('inside', `wget -q -T 10 -O - http://${WEB_VPN}/`);
  assert.is(page.rc, 0, page.out);
});

test('a router that reboots while its VMs keep sending lets nothing out; the tunnel comes back with it', async () => {
  const router = await run.vm('gw');
  const trying = sh(
    'inside',
    `for i in $(seq 90); do wget -q -T 2 -O /dev/null http://${WEB_VPN}/ && echo OK || echo FAIL; sleep 1; done`,
    300_000,
  );
  await sleep(2000);
  process.kill(router.pid!, 'SIGKILL');
  await run.waitForVm('gw', (vm) => vm.state === 'ready' && vm.pid !== router.pid, BOOT_MS, 'came back');
  await tunnelUntil('private', (t) => t.state === 'up' && (t.handshakeAgeS ?? 999) < 60, 'up after the reboot');
  const attempts = (await trying).out;
  assert.match(attempts, /FAIL[\s\S]*OK/, 'down while the router was gone, back with it');
  const page = await sh('inside', `wget -q -T 10 -O - http://${WEB_VPN}/`);
  assert.is(page.rc, 0, page.out);
});

test('a VPN server that dies: the VM connections fail within seconds, and nothing goes out in the clear', async () => {
  await lab.stopWireguard();
  await lab.stopOpenvpn();
  for (const vm of ['inside', 'hidden']) {
    const started = Date.now();
    const fetch = await sh(vm, `wget -q -T 5 -O - http://${WEB_VPN}/; echo rc=$?`);
    assert.match(fetch.out, /rc=[1-9]/, `${vm} still fetched: ${fetch.out}`);
    assert.ok(Date.now() - started < 20_000, `${vm} took ${Date.now() - started} ms to fail`);
  }
  // Meanwhile the plain VM is unaffected.
  assert.is((await sh('outside', `wget -q -T 10 -O /dev/null http://${WEB_PLAIN}/`)).rc, 0);
});

test('the capture, from before the router booted: nothing from it but tunnel packets, DHCP and the pinned lookup', async () => {
  const router = `ether src ${ROUTER_MAC}`;
  const allowed = [
    'arp',
    '(udp src port 68 and udp dst port 67)',
    `(dst host ${VPN_SERVER} and udp dst port ${WIREGUARD_PORT})`,
    `(dst host ${VPN_SERVER} and udp dst port ${OPENVPN_PORT})`,
    `(dst host ${WEB_PLAIN} and tcp dst port 80)`,
  ].join(' or ');
  const unexpected = lab.captured(`${router} and not (${allowed}) and not port 53`);
  assert.equal(unexpected, [], 'only tunnel packets, DHCP, DNS and the plain VM leave the router');
  assert.ok(lab.captured(`${router} and udp dst port ${WIREGUARD_PORT}`).length > 0, 'WireGuard was seen');
  assert.ok(lab.captured(`${router} and udp dst port ${OPENVPN_PORT}`).length > 0, 'OpenVPN was seen');
  assert.equal(lab.captured('ip6'), [], 'no IPv6 at all');
  assert.equal(lab.captured(`host ${WEB_VPN}`), [], 'nothing to the VPN-only address in the clear');
  // DNS: only the router's one-time lookup of the endpoint's name, nothing of the VMs'.
  const dns = lab.captured(`${router} and port 53`);
  assert.ok(dns.length > 0, 'the endpoint name was looked up');
  for (const line of dns) assert.match(line, `${VPN_SERVER_NAME}.`, line);
  assert.equal(
    lab.uplinkDnsQueries().filter((q) => q !== VPN_SERVER_NAME),
    [],
  );
});

test.run();
