// Networks end to end, with the real agent on this machine: the example host's router VM owns an uplink (a tap in a
// network namespace this test makes: an "internet" with DHCP, DNS and HTTP on documentation addresses), and two NoVM
// VMs each get their own link to it. What must hold: a VM gets a lease and fetches a page by name; VMs reach each other
// only where a rule says; a denied port is refused and never crosses the uplink (capture); a port forward reaches a VM;
// a spoofed address or MAC gets nothing out; the host's own network namespace gains no interface or address; killing
// the router stops the traffic, and it comes back with the router while the VMs keep running.

import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { unpackInitramfs } from '../../../builder/archive/unpack.ts';
import { AgentRun, apiCall, consoleShell, killVms, reportingSetUp, type ScenarioConfig } from '../../lib/agent-run.ts';
import { ARTIFACTS } from '../../lib/boot.ts';
import { buildHostImage } from '../../lib/host-image.ts';
import { INTERNET_PAGE, Internet, ip } from '../../lib/internet.ts';

const BOOT_MS = 240_000;
const NETNS = 'mvq-inet';
const TAP = 'mvup0';
const INTERNET = '203.0.113.1';
const ROUTER_UPLINK = '203.0.113.2';
const NAMES = ['router', 'web', 'worker'];
const dir = join(ARTIFACTS, '021-networks');
let internet: Internet;
let run: AgentRun;
let config: ScenarioConfig;
let hostRoot: string;
let hostNet: { links: string; addrs: string };

// The root namespace's interfaces and addresses, without counters and timers (what must not change).
function hostNetwork(): { links: string; addrs: string } {
  const links = (JSON.parse(ip(['-j', 'link', 'show'])) as Array<{ ifname: string; address?: string }>).map(
    (l) => `${l.ifname} ${l.address ?? ''}`,
  );
  const addrs = (
    JSON.parse(ip(['-j', 'addr', 'show'])) as Array<{ ifname: string; addr_info: Array<{ local: string }> }>
  ).flatMap((l) => l.addr_info.map((a) => `${l.ifname} ${a.local}`));
  return { links: links.sort().join('\n'), addrs: addrs.sort().join('\n') };
}

// Runs a shell command on a VM's console.
function sh(vm: string, command: string, timeoutMs = 60_000): Promise<{ out: string; rc: number }> {
  return consoleShell(run.stateDir, vm, command, timeoutMs);
}

async function leaseOf(vm: string, address: string): Promise<void> {
  const got = await sh(
    vm,
    `for i in $(seq 60); do ip -4 addr show eth0 | grep -q "inet ${address}/" && break; sleep 1; done; ip -4 addr show eth0 | grep -c "inet ${address}/"`,
    90_000,
  );
  assert.is(got.rc, 0, `${vm} got no lease for ${address}:\n${got.out}`);
}

test.before(reportingSetUp(setUp));

async function setUp(): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const image = buildHostImage('recipes/examples/host-net.yaml');
  const root = await unpackInitramfs(image.initrd, join(ARTIFACTS, 'host-roots'));
  hostRoot = root;
  config = JSON.parse(await readFile(join(root, 'etc/mvos/host.json'), 'utf8'));
  // Only the network's VMs (the controller and rescue are other scenarios' business), and the router's tap in the
  // test's "internet".
  config.vms = config.vms.filter((vm) => NAMES.includes(vm.name));
  const networks = config.networks as { routers: Array<{ uplink: { tap: { netns?: string }; mac: string } }> };
  networks.routers[0]!.uplink.tap.netns = NETNS;
  const uplinkMac = networks.routers[0]!.uplink.mac;

  internet = await Internet.forRouter({
    netns: NETNS,
    dir,
    tap: TAP,
    address: INTERNET,
    range: ['203.0.113.10', '203.0.113.20'],
    router: { mac: uplinkMac, address: ROUTER_UPLINK },
  });
  hostNet = hostNetwork();
  run = await AgentRun.start({ root, config, dir });
  await run.waitForReady(NAMES, BOOT_MS);
}

test.after(async () => {
  await run?.kill('SIGKILL');
  await killVms(join(dir, 'state'), NAMES);
  await internet?.stop();
});

test('a VM gets its lease from the router and fetches a page from the "internet" by name', async () => {
  await leaseOf('web', '198.51.100.2');
  const page = await sh('web', 'wget -q -T 10 -O - http://www.example.test/');
  assert.is(page.rc, 0, page.out);
  assert.match(page.out, INTERNET_PAGE);
  assert.match(await sh('web', 'cat /etc/resolv.conf').then((r) => r.out), 'nameserver 198.51.100.1');
});

test('VMs see each other only where a rule says: worker may reach web:80, nothing else between them', async () => {
  await leaseOf('worker', '198.51.100.3');
  for (const vm of ['web', 'worker']) {
    const served = await sh(
      vm,
      `mkdir -p /tmp/www && echo SERVED-BY-${vm} > /tmp/www/index.html && httpd -p 80 -h /tmp/www && httpd -p 81 -h /tmp/www`,
    );
    assert.is(served.rc, 0, served.out);
  }
  const allowed = await sh('worker', 'wget -q -T 5 -O - http://198.51.100.2/');
  assert.match(allowed.out, 'SERVED-BY-web', allowed.out);
  const otherPort = await sh('worker', 'wget -q -T 5 -O - http://198.51.100.2:81/');
  assert.is.not(otherPort.rc, 0, `worker reached web:81:\n${otherPort.out}`);
  const back = await sh('web', 'wget -q -T 5 -O - http://198.51.100.3/');
  assert.is.not(back.rc, 0, `web reached worker:\n${back.out}`);
  assert.not.match(back.out, 'SERVED-BY-worker');
});

test('a port the rules deny is refused at once and never crosses the uplink', async () => {
  const syns = () => internet.captured('tcp dst port 25 and tcp[tcpflags] & tcp-syn != 0');
  const before = syns();
  const started = Date.now();
  const refused = await sh('web', `echo QUIT | nc -w 5 ${INTERNET} 25`);
  assert.is.not(refused.rc, 0, refused.out);
  assert.not.match(refused.out, '220 mail');
  assert.ok(Date.now() - started < 4000, 'a reset, not a timeout');
  await sleep(1500);
  assert.is(syns(), before, "web's connection to port 25 crossed the uplink");
  // The worker has no such rule: the same port works from it (so the refusal above was the rule's, and the capture
  // sees port 25 when it is used).
  assert.match((await sh('worker', `echo QUIT | nc -w 5 ${INTERNET} 25`)).out, '220 mail');
  // tcpdump writes each packet as it comes (-U), but reading the file can still race the last write.
  for (let i = 0; i < 50 && syns() === before; i++) await sleep(100);
  assert.ok(syns() > before, "the worker's connection to port 25 is in the capture");
});

test('a port forward from the "internet" reaches the VM', async () => {
  const got = internet.run('curl', ['-s', '-m', '10', `http://${ROUTER_UPLINK}:8080/`]);
  assert.match(got.stdout, 'SERVED-BY-web', got.stderr);
});

test('a VM cannot send from another address or MAC', async () => {
  // Distinct sizes tell the pings apart on the uplink, where NAT has rewritten every source.
  assert.is((await sh('web', `ping -c 2 -W 2 -s 1001 ${INTERNET}`)).rc, 0);
  await sh('web', `ping -c 2 -W 2 -s 1111 -I 198.51.100.3 ${INTERNET}`);
  await sh(
    'web',
    `ip addr add 198.51.100.77/24 dev eth0; ping -c 2 -W 2 -s 1122 -I 198.51.100.77 ${INTERNET}; ip addr del 198.51.100.77/24 dev eth0`,
  );
  const mac = (await sh('web', 'cat /sys/class/net/eth0/address')).out.match(/02(:[0-9a-f]{2}){5}/)![0];
  await sh(
    'web',
    `ip link set eth0 address 02:00:00:00:66:66; ping -c 2 -W 2 -s 1133 ${INTERNET}; ip link set eth0 address ${mac}`,
  );
  assert.is((await sh('web', `ping -c 1 -W 5 -s 1044 ${INTERNET}`)).rc, 0, 'the real address and MAC still work');
  // Sent last: once it is in the capture file, everything before it is too.
  for (let i = 0; i < 50 && internet.captured('icmp and ip[2:2] = 1072') === 0; i++) await sleep(100);
  assert.ok(internet.captured('icmp and ip[2:2] = 1029') >= 2, 'the honest pings crossed the uplink');
  assert.ok(internet.captured('icmp and ip[2:2] = 1072') >= 1, 'the last honest ping crossed the uplink');
  for (const size of [1111, 1122, 1133])
    assert.is(
      internet.captured(`icmp and ip[2:2] = ${size + 28}`),
      0,
      `spoofed ping of ${size} bytes crossed the uplink`,
    );
});

test("the host's own network namespace gained no interface and no address", () => {
  assert.equal(hostNetwork(), hostNet);
});

test('a rule change through the API reaches the running router at once, by DNS name too, and is audited', async () => {
  const rules = [
    { action: 'allow', proto: 'tcp', to: { name: 'www.example.test' }, ports: [80, 80] },
    { action: 'deny', proto: 'tcp', ports: [80, 80] },
  ];
  const set = await apiCall(run, 'POST', '/api/vms/web/rules', { rules });
  assert.is(set.status, 200, JSON.stringify(set.json));
  // The name's set starts empty: by address, port 80 is refused; resolving the name through the router fills it.
  const byAddress = await sh('web', `wget -q -T 5 -O - http://${INTERNET}/`);
  assert.is.not(byAddress.rc, 0, `port 80 by address went through:\n${byAddress.out}`);
  assert.match((await sh('web', 'wget -q -T 10 -O - http://www.example.test/')).out, INTERNET_PAGE);
  const net = await apiCall(run, 'GET', '/api/vms/web/net');
  assert.equal((net.json as Array<{ rules: unknown }>)[0]!.rules, rules);
  const bad = await apiCall(run, 'POST', '/api/vms/web/rules', {
    rules: [{ action: 'allow', proto: 'tcp', to: { vm: 'nope' } }],
  });
  assert.is(bad.status, 400, JSON.stringify(bad.json));
  const back = await apiCall(run, 'POST', '/api/vms/web/rules', {
    rules: [{ action: 'deny', proto: 'tcp', ports: [25, 25] }],
  });
  assert.is(back.status, 200, JSON.stringify(back.json));
  assert.match((await sh('web', `wget -q -T 5 -O - http://${INTERNET}/`)).out, INTERNET_PAGE);
  const audit = await readFile(join(run.stateDir, 'audit.log'), 'utf8');
  const changes = audit
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { action: string; target?: string; result: string; reason?: string })
    .filter((entry) => entry.action === 'POST /api/vms/{name}/rules' && entry.target === 'web');
  assert.equal(
    changes.map((c) => c.result),
    ['ok', 'refused', 'ok'],
  );
  assert.match(changes[1]!.reason ?? '', 'not reachable');
});

test('a VM started after its router is up gets its link at once; the router is not restarted', async () => {
  const router = await run.vm('router');
  assert.is((await apiCall(run, 'POST', '/api/vms/worker/stop')).status, 200);
  assert.is((await apiCall(run, 'POST', '/api/vms/worker/start')).status, 200);
  await run.waitForVm('worker', (vm) => vm.state === 'ready', BOOT_MS, 'came back');
  await leaseOf('worker', '198.51.100.3');
  assert.match((await sh('worker', 'wget -q -T 10 -O - http://www.example.test/')).out, INTERNET_PAGE);
  assert.is((await run.vm('router')).pid, router.pid, 'the router kept running');
});

test("the links do not pass through the agent: killed, the VMs' traffic goes on; restarted, it takes the router back", async () => {
  const router = await run.vm('router');
  await run.kill('SIGKILL');
  assert.match((await sh('web', 'wget -q -T 10 -O - http://www.example.test/')).out, INTERNET_PAGE);
  run = await AgentRun.start({ root: hostRoot, config, dir });
  const back = await run.waitForVm('router', (vm) => vm.state === 'ready', 60_000, 're-attached');
  assert.is(back.pid, router.pid, 'the same router QEMU');
  // The new agent reaches the router's health channel again: a rule change still goes through.
  const set = await apiCall(run, 'POST', '/api/vms/web/rules', {
    rules: [{ action: 'deny', proto: 'tcp', ports: [25, 25] }],
  });
  assert.is(set.status, 200, JSON.stringify(set.json));
});

test('killing the router stops the traffic; it resumes when the router is back, the VMs still running', async () => {
  const router = await run.vm('router');
  const web = await run.vm('web');
  const worker = await run.vm('worker');
  process.kill(router.pid!, 'SIGKILL');
  const cut = await sh('web', 'wget -q -T 3 -O - http://www.example.test/');
  assert.is.not(cut.rc, 0, `traffic went on without the router:\n${cut.out}`);
  await run.waitForVm('router', (vm) => vm.state === 'ready' && vm.pid !== router.pid, BOOT_MS, 'came back');
  const back = await sh(
    'web',
    `for i in $(seq 30); do wget -q -T 3 -O - http://www.example.test/ && break; sleep 1; done`,
    120_000,
  );
  assert.match(back.out, INTERNET_PAGE, back.out);
  assert.is((await run.vm('web')).pid, web.pid, 'web kept running');
  assert.is((await run.vm('worker')).pid, worker.pid, 'worker kept running');
});

test.run();
