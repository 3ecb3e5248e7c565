// A Tor network end to end: the router owns the uplink (a tap in the test's "internet", where a private Tor network
// runs: three authorities, a middle relay and an exit, from Debian's tor), and a Tor gateway VM chained behind it (its
// uplink is its link on the router's `lan`) serves `onion`. What must hold: the VM on `onion` fetches a page from the
// internet's server, which sees the Tor exit's address, never the router's; its names are answered by Tor, whichever
// server it asks; its other UDP and its ICMP get nowhere; and the capture on the uplink holds nothing from the router
// but DHCP, ARP and TCP to the Tor relays. The gateway also publishes the host's onion call-home: from the test's
// internet, an enrolled owner runs `status` over SSH and `mvos vm list` over the API through the onion address; a Tor
// without a key is refused (and told why), and a revoked client is locked out while the others stay in.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NetworksView, VmNetView } from '../../../common/api-types.ts';
import { TOR_CONTROL_PORT } from '../../../common/net/torrc.ts';
import { isOnionAddress } from '../../../common/onion/service-key.ts';
import { apiCall, consoleShell, reportingSetUp } from '../../lib/agent-run.ts';
import { ARTIFACTS } from '../../lib/boot.ts';
import { INTERNET_NAME, INTERNET_PAGE } from '../../lib/internet.ts';
import { INTERNET, ROUTER_MAC, TorHost } from '../../lib/tor-host.ts';
import { DIR_PORT, OR_PORT } from '../../lib/tor-lab.ts';

const dir = join(ARTIFACTS, '024-tor');
// The Tors on the owner's side of the internet: the laptop and the phone enrolled, a stranger never.
const SOCKS = { laptop: 9050, phone: 9051, stranger: 9052 };
const timings: Record<string, number> = {};
let host: TorHost;

function sh(vm: string, command: string, timeoutMs = 60_000): Promise<{ out: string; rc: number }> {
  return consoleShell(host.run.stateDir, vm, command, timeoutMs);
}

test.before(
  reportingSetUp(async () => {
    host = await TorHost.start({ dir, netns: 'mvq-torinet', tap: 'mvtor0' });
  }),
);

test.after(async () => {
  await host?.stop();
});

test("the gateway's Tor bootstraps through the router it is chained behind", async () => {
  const until = Date.now() + Number(process.env.MVOS_TOR_WAIT_MS ?? 240_000);
  let percent: number | undefined;
  while (Date.now() < until) {
    const view = (await apiCall(host.run, 'GET', '/api/networks')).json as NetworksView;
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
  const seen = host.internet.requestsFrom();
  assert.ok(seen.length > 0, 'the server saw the request');
  assert.ok(
    seen.every((from) => host.lab.exitAddresses().includes(from)),
    `the server saw ${seen.join(', ')}; the exit is ${host.lab.exitAddresses().join(', ')}`,
  );
});

// Tor's STREAM events on the gateway's control port while `during` runs: each stream's source (a VM's address) and the
// circuits it was attached to.
async function streamsDuring(during: () => Promise<void>): Promise<Map<string, Set<string>>> {
  const cookie = 'od -An -tx1 /var/lib/tor/control_auth_cookie | tr -d " \\n"';
  const started = await sh(
    'torgw',
    `( printf 'AUTHENTICATE %s\\r\\nSETEVENTS STREAM\\r\\n' "$(${cookie})"; sleep 40 ) | nc 127.0.0.1 ${TOR_CONTROL_PORT} > /tmp/streams 2>&1 & sleep 2; head -c 300 /tmp/streams`,
  );
  assert.match(started.out, '250 OK', `the control port: ${started.out}`);
  await during();
  const events = await sh('torgw', 'cat /tmp/streams', 60_000);
  const source = new Map<string, string>();
  const circuits = new Map<string, Set<string>>();
  for (const [, id, status, circuit, rest] of events.out.matchAll(/^650 STREAM (\d+) (\w+) (\d+) (.*)$/gm)) {
    const from = /SOURCE_ADDR=([\d.]+):\d+/.exec(rest!)?.[1];
    if (status === 'NEW' && from) source.set(id!, from);
    const vm = source.get(id!);
    if (vm && circuit !== '0' && (status === 'SENTCONNECT' || status === 'SUCCEEDED')) {
      circuits.set(vm, new Set([...(circuits.get(vm) ?? []), circuit!]));
    }
  }
  return circuits;
}

test('each VM its own circuits: streams of two VMs on the Tor network never share one', async () => {
  const addresses = await Promise.all(
    ['anon', 'anon2'].map(
      async (vm) => ((await apiCall(host.run, 'GET', `/api/vms/${vm}/net`)).json as VmNetView[])[0]!.address,
    ),
  );
  const circuits = await streamsDuring(async () => {
    for (let round = 0; round < 2; round++)
      for (const vm of ['anon', 'anon2']) {
        const page = await sh(vm, `wget -q -T 30 -O - http://${INTERNET}/`, 120_000);
        assert.match(page.out, INTERNET_PAGE, `${vm}: ${page.out}`);
      }
  });
  const [a, b] = addresses.map((address) => circuits.get(address) ?? new Set<string>());
  assert.ok(a!.size > 0 && b!.size > 0, `streams seen: ${JSON.stringify([...circuits].map(([k, v]) => [k, [...v]]))}`);
  const shared = [...a!].filter((circuit) => b!.has(circuit));
  assert.equal(shared, [], `anon (${addresses[0]}) and anon2 (${addresses[1]}) shared circuits`);
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
  const relays = host.lab.relays.map((r) => `host ${r.address}`).join(' or ');
  const allowed = `arp or (udp src port 68 and udp dst port 67) or (tcp and (${relays}) and (port ${OR_PORT} or port ${DIR_PORT}))`;
  const unexpected = host.internet.capturedLines(`ether src ${ROUTER_MAC} and not (${allowed})`);
  assert.equal(unexpected, [], 'only Tor, DHCP and ARP leave the router');
  assert.ok(host.internet.captured(`ether src ${ROUTER_MAC} and tcp and (${relays})`) > 0, 'Tor traffic was seen');
  assert.is(
    host.internet.captured(`ether src ${ROUTER_MAC} and ((udp and not port 67) or icmp or ip6)`),
    0,
    'no UDP, ICMP or IPv6',
  );
});

test('the onion call-home: a key of its own, nothing published while no client is enrolled', async () => {
  const view = await host.onionView();
  assert.ok(isOnionAddress(view.address), view.address);
  assert.is(view.gateway, 'torgw');
  assert.equal(view.ports, { ssh: 22, api: 80 });
  assert.equal(view.clients, []);
  assert.is(view.serving, false, 'no client: no descriptor');
  assert.match(host.run.log, `the host's onion service is ${view.address}`, 'on the console');
});

test('mvos onion client add enrols a machine: the private half stays with it, the gateway publishes', async () => {
  for (const name of ['laptop', 'phone']) {
    const added = host.enrol(name, join(dir, `auth-${name}`));
    assert.is(added.status, 0, added.out);
    assert.match(added.out, `enrolled ${name}`);
    assert.match(added.out, "ProxyCommand='socat - SOCKS4A:127.0.0.1:%h:%p,socksport=9050'");
  }
  const view = await host.onionView();
  const file = join(dir, 'auth-laptop', `${view.address.replace('.onion', '')}.auth_private`);
  const line = (await readFile(file, 'utf8')).trim();
  assert.match(line, /^[a-z2-7]{56}:descriptor:x25519:[A-Z2-7]{52}$/);
  assert.not.match(JSON.stringify(view), line.split(':').pop()!, 'the agent never holds the private half');
  assert.equal(
    view.clients.map((c) => c.name),
    ['laptop', 'phone'],
  );
  for (const [name, port] of Object.entries(SOCKS)) {
    host.lab.launch(name, {
      socksPort: `127.0.0.1:${port} ExtendedErrors`,
      extra: name === 'stranger' ? [] : [`ClientOnionAuthDir ${join(dir, `auth-${name}`)}`],
    });
  }
  const until = Date.now() + 180_000;
  while (!(await host.onionView()).serving && Date.now() < until) await sleep(2000);
  assert.ok((await host.onionView()).serving, "the gateway's Tor serves the address");
});

test('the owner runs status over SSH through the onion address (the documented ssh line)', async () => {
  const { address } = await host.onionView();
  let result = await host.sshStatus(SOCKS.laptop);
  // The first descriptor may still be on its way to the directories: a few tries, each a fresh connection.
  for (let i = 0; result.status !== 0 && i < 8; i++) {
    await sleep(5000);
    result = await host.sshStatus(SOCKS.laptop);
  }
  assert.is(result.status, 0, result.out);
  assert.match(result.out, /^host multiverse-host-tor /m, result.out);
  assert.match(result.out, `onion ${address} (serving, 2 clients, Tor in torgw)`, 'the address in status');
  timings.sshFirstMs = result.ms;
  const again = await host.sshStatus(SOCKS.laptop);
  assert.is(again.status, 0, again.out);
  timings.sshStatusMs = again.ms;
});

test('the owner runs mvos vm list over the API through the onion address (--host http://….onion --tor)', async () => {
  const { address } = await host.onionView();
  const list = await host.mvos(['vm', 'list', '--host', `http://${address}`, '--json'], SOCKS.laptop);
  assert.is(list.status, 0, list.err);
  const names = (JSON.parse(list.out) as Array<{ name: string }>).map((vm) => vm.name);
  assert.ok(names.includes('anon') && names.includes('torgw'), names.join(', '));
  timings.apiListMs = list.ms;
  const phone = await host.mvos(['onion', 'status', '--host', `http://${address}`, '--json'], SOCKS.phone);
  assert.is(phone.status, 0, `the phone is enrolled too: ${phone.err}`);
});

test('a Tor without a key cannot even find the service, and is told why', async () => {
  const { address } = await host.onionView();
  const stranger = await host.mvos(['vm', 'list', '--host', `http://${address}`], SOCKS.stranger);
  assert.is(stranger.status, 1, stranger.out);
  assert.match(stranger.err, 'needs client authorization and this Tor has no key for it');
  const direct = await host.mvos(['vm', 'list', '--host', `http://${address}`], 9);
  assert.is.not(direct.status, 0, 'nothing answers but Tor');
});

test('a revoked client loses access once the gateway reloaded; the others keep theirs', async () => {
  const removed = host.revoke('phone');
  assert.is(removed.status, 0, removed.out);
  assert.equal(
    (await host.onionView()).clients.map((c) => c.name),
    ['laptop'],
  );
  const { address } = await host.onionView();
  // The gateway's Tor restarts with new introduction points: the phone's cached descriptor leads nowhere, and the new
  // one does not open with its key.
  let phone = await host.mvos(['onion', 'status', '--host', `http://${address}`], SOCKS.phone);
  assert.is(phone.status, 1, `the phone got in after its revocation: ${phone.out}`);
  const reasons = [phone.err.split('\n')[0]];
  let laptop = await host.mvos(['vm', 'list', '--host', `http://${address}`, '--json'], SOCKS.laptop);
  for (let i = 0; laptop.status !== 0 && i < 8; i++) {
    await sleep(5000);
    laptop = await host.mvos(['vm', 'list', '--host', `http://${address}`, '--json'], SOCKS.laptop);
  }
  assert.is(laptop.status, 0, `the laptop is still enrolled: ${laptop.err}`);
  // Once its cached descriptor failed, the phone fetches the new one, which does not open with its key: the CLI says so.
  for (let i = 0; i < 3 && !reasons.some((r) => r?.includes("refused this client's key")); i++) {
    phone = await host.mvos(['onion', 'status', '--host', `http://${address}`], SOCKS.phone);
    assert.is(phone.status, 1, `the phone got in after the gateway republished: ${phone.out}`);
    reasons.push(phone.err.split('\n')[0]);
  }
  assert.ok(
    reasons.some((r) => r?.includes("the onion service refused this client's key")),
    reasons.join('\n'),
  );
  console.log(`revoked phone: ${reasons.join(' | ')}; timings ${JSON.stringify(timings)}`);
  await writeFile(join(dir, 'onion-timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
});

test.run();
