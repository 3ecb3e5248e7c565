// A host in a fleet, end to end: the host (the real agent in a network namespace of its own, with loopback alone) has
// no way to the brokers but its router VM, whose uplink NIC is bridged to the test's "internet" (another namespace with
// DHCP, DNS and a TLS broker cluster of three, captured). The image is built from a recipe with `agent.fleet … via:
// router`, its seed and the brokers' CA from the test's key folder. What must hold: the host is listed within seconds
// of its router coming up; its connection leaves through the router (the brokers see only the router's address; the
// agent dials its own loopback endpoints); nothing of the protocol crosses the uplink in the clear; an operator's
// command reaches the host through the relay and is audited with the operator's name; the router killed, the link says
// so and comes back with the router by itself.

import { execFile, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { unpackInitramfs } from '../../../builder/archive/unpack.ts';
import { brokerAuthorization } from '../../../builder/fleet/broker-config.ts';
import { enrollIdentity, listIdentities } from '../../../builder/fleet/identities.ts';
import { derivedMac } from '../../../builder/pipeline/network-plan.ts';
import { fleetCaFile } from '../../../builder/secrets/fleet-files.ts';
import type { FleetLinkView } from '../../../common/api-types.ts';
import { writeSelfSigned } from '../../../common/self-signed.test-support.ts';
import { AgentRun, killVms, reportingSetUp, type ScenarioConfig } from '../../lib/agent-run.ts';
import { ARTIFACTS } from '../../lib/boot.ts';
import { buildHostImage, repoRoot } from '../../lib/host-image.ts';
import { Internet, ip } from '../../lib/internet.ts';
import { NatsCluster } from '../../lib/nats-lab.ts';

const BOOT_MS = 240_000;
const RECIPE = 'qa/cases/032-fleet-router/host-fleet.yaml';
const HOST = 'rack1-host1';
const HOST_NETNS = 'mvfl-host';
const INET_NETNS = 'mvfl-inet';
const TAP = 'mvfl0';
const BRIDGE = 'mvflbr';
const INTERNET = '203.0.113.1';
const ROUTER_UPLINK = '203.0.113.2';
const BROKER_PORTS = [4222, 4223, 4224];
const BROKER_NAME = 'nats.example.test';
const API_PORT = 8480;
const dir = join(ARTIFACTS, '032-fleet-router');
let keyDir: string;
let internet: Internet;
let cluster: NatsCluster;
let run: AgentRun;
let hostRoot: string;
let routerReadyAt: number;

// Runs `mvos fleet VERB …` as operator ops in the internet's namespace (where the brokers are).
function fleet(verb: string, args: string[] = []): Promise<{ status: number; stdout: string; stderr: string }> {
  const flags = [`--server=tls://${INTERNET}:${BROKER_PORTS[0]}`, '--key-dir', keyDir];
  const argv = ['netns', 'exec', INET_NETNS, join(repoRoot, 'mvos'), 'fleet', verb, ...flags, ...args];
  return new Promise((resolve) => {
    execFile(
      'ip',
      argv,
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) =>
        resolve({ status: error ? ((error.code as number) ?? -1) : 0, stdout: stdout.trim(), stderr: stderr.trim() }),
    );
  });
}

// The capture's packets that match a filter, read until there are some (tcpdump hands packets over in batches).
async function capturedSoon(filter: string): Promise<string[]> {
  for (let i = 0; i < 50; i++) {
    const lines = internet.capturedLines(filter);
    if (lines.length > 0) return lines;
    await sleep(200);
  }
  return [];
}

interface Listed {
  hosts: Array<{ status: { host: string; vms: Array<{ name: string }> }; ageSeconds: number; stale: boolean }>;
}

async function listed(): Promise<Listed['hosts'][number] | undefined> {
  const ls = await fleet('ls', ['--json']);
  assert.is(ls.status, 0, ls.stderr);
  return (JSON.parse(ls.stdout) as Listed).hosts.find((h) => h.status.host === HOST);
}

async function link(): Promise<FleetLinkView> {
  const status = (await run.status()) as { fleet?: FleetLinkView };
  assert.ok(status.fleet, 'status.json has no fleet link');
  return status.fleet;
}

async function linkUntil(state: FleetLinkView['state'], timeoutMs: number): Promise<FleetLinkView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const now = await link();
    if (now.state === state) return now;
    if (Date.now() > until)
      throw new Error(`the fleet link is not ${state} within ${timeoutMs} ms: ${JSON.stringify(now)}`);
    await sleep(500);
  }
}

test.before(reportingSetUp(setUp));

async function setUp(): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // The test's key folder: this host's and an operator's nkeys, and the brokers' CA (their certificate itself).
  const config = await mkdtemp(join(tmpdir(), 'mvos-fleet-keys-'));
  keyDir = join(config, 'mvos', 'keys');
  await enrollIdentity(keyDir, 'host', HOST);
  await enrollIdentity(keyDir, 'operator', 'ops');
  const tls = { key: join(dir, 'broker.key'), cert: join(dir, 'broker.crt') };
  writeSelfSigned(tls, `/CN=${BROKER_NAME}`, `DNS:${BROKER_NAME},IP:${INTERNET}`);
  await copyFile(tls.cert, fleetCaFile(keyDir));
  const image = buildHostImage(RECIPE, { env: { XDG_CONFIG_HOME: config } });
  hostRoot = await unpackInitramfs(image.initrd, join(ARTIFACTS, 'host-roots'));
  const hostConfig = JSON.parse(await readFile(join(hostRoot, 'etc/mvos/host.json'), 'utf8')) as ScenarioConfig;
  hostConfig.vms = hostConfig.vms.filter((vm) => vm.name === 'router');
  // The API on the host's loopback, for a login to refuse.
  (hostConfig as unknown as { agent: { apiListen: string } }).agent.apiListen = `127.0.0.1:${API_PORT}`;

  // The host's namespace: loopback, and the router's tap bridged to the internet (as its NIC would be, passed through).
  spawnSync('ip', ['netns', 'del', HOST_NETNS]);
  ip(['netns', 'add', HOST_NETNS]);
  ip(['link', 'set', 'lo', 'up'], HOST_NETNS);
  internet = await Internet.start({
    netns: INET_NETNS,
    dir,
    taps: [
      {
        name: 'mvflv1',
        address: INTERNET,
        range: ['203.0.113.10', '203.0.113.20'],
        hosts: [{ mac: derivedMac('uplink/router'), address: ROUTER_UPLINK }],
        peer: { name: 'mvflv0', netns: HOST_NETNS },
      },
    ],
    capture: true,
    names: [[BROKER_NAME, INTERNET]],
  });
  ip(['tuntap', 'add', 'dev', TAP, 'mode', 'tap'], HOST_NETNS);
  ip(['link', 'add', BRIDGE, 'type', 'bridge'], HOST_NETNS);
  for (const port of [TAP, 'mvflv0']) ip(['link', 'set', port, 'master', BRIDGE, 'up'], HOST_NETNS);
  ip(['link', 'set', BRIDGE, 'up'], HOST_NETNS);

  cluster = await NatsCluster.start(brokerAuthorization(await listIdentities(keyDir)), 3, {
    netns: INET_NETNS,
    address: INTERNET,
    tls,
    ports: BROKER_PORTS,
  });
  const setup = await fleet('setup');
  assert.is(setup.status, 0, setup.stderr);
  run = await AgentRun.start({ root: hostRoot, config: hostConfig, dir, netns: HOST_NETNS });
  await run.waitForReady(['router'], BOOT_MS);
  routerReadyAt = Date.now();
}

test.after(async () => {
  await run?.kill('SIGKILL');
  await killVms(join(dir, 'state'), ['router']);
  await cluster?.stop();
  await internet?.stop();
  spawnSync('ip', ['netns', 'del', HOST_NETNS]);
});

test('the image ships the seed root-only and the CA, and its host.json goes out through the router', async () => {
  assert.is((await stat(join(hostRoot, 'etc/mvos/fleet.nk'))).mode & 0o777, 0o400);
  assert.ok((await stat(join(hostRoot, 'etc/mvos/fleet-ca.crt'))).isFile());
  const written = JSON.parse(await readFile(join(hostRoot, 'etc/mvos/host.json'), 'utf8'));
  assert.equal(written.agent.fleet, {
    servers: ['tls://nats.example.test:4222', 'tls://nats.example.test:4223', 'tls://203.0.113.1:4224'],
    host: HOST,
    seedFile: '/etc/mvos/fleet.nk',
    intervalSeconds: 5,
    caFile: '/etc/mvos/fleet-ca.crt',
    via: 'router',
  });
});

test('the host is listed, with its router, within seconds of the router coming up', async () => {
  const until = Date.now() + 60_000;
  let host = await listed();
  while (!host || host.stale) {
    if (Date.now() > until) throw new Error(`${HOST} not listed within 60 s: ${JSON.stringify(await link())}`);
    await sleep(1000);
    host = await listed();
  }
  console.log(`listed ${((Date.now() - routerReadyAt) / 1000).toFixed(1)} s after the router was ready`);
  assert.equal(
    host.status.vms.map((v) => v.name),
    ['router'],
  );
  const now = await link();
  assert.is(now.state, 'connected');
  assert.match(now.server ?? '', /^127\.77\.0\.[1-3]:422[2-4]$/, 'the agent dials its own loopback endpoints');
});

test("the connection leaves through the router: the brokers' ports see only the router's address", async () => {
  const syns = await capturedSoon(
    'tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0 and dst port (4222 or 4223 or 4224)',
  );
  assert.ok(syns.length > 0, 'no connection to a broker in the capture');
  for (const line of syns) assert.match(line, ` ${ROUTER_UPLINK}.`, line);
  // The host itself has no address but loopback: no way out but the router.
  const addresses = JSON.parse(ip(['-j', '-4', 'addr', 'show'], HOST_NETNS)) as Array<{
    addr_info: Array<{ local: string }>;
  }>;
  assert.equal(
    addresses.flatMap((l) => l.addr_info.map((a) => a.local)),
    ['127.0.0.1'],
  );
});

test('nothing of the protocol crosses the uplink in the clear: the brokers say INFO, then TLS', async () => {
  // Read once the TLS records are in: an application-data record (type 23) from the router to a broker.
  await capturedSoon(
    `src host ${ROUTER_UPLINK} and dst port (4222 or 4223 or 4224) and tcp[((tcp[12] & 0xf0) >> 2)] = 23`,
  );
  const pcap = await readFile(internet.pcap);
  assert.ok(pcap.includes('INFO {'), "the capture holds the brokers' greetings (so it sees this traffic)");
  const seed = (await readFile(join(keyDir, 'fleet/hosts', `${HOST}.nk`), 'utf8')).trim();
  for (const clear of ['CONNECT {', '$KV.mvos-fleet', `fleet.${HOST}.`, seed.slice(0, 12)])
    assert.not.ok(pcap.includes(clear), `"${clear}" crossed the uplink in the clear`);
});

test("an operator's command reaches the host through the relay and is audited with the operator's name", async () => {
  const got = await fleet('run', [HOST, '--', 'vm', 'list']);
  assert.is(got.status, 0, got.stderr);
  assert.match(got.stdout, 'router');
  const audit = await readFile(join(run.stateDir, 'audit.log'), 'utf8');
  assert.match(audit, '"fleet:ops"');
});

test("a login the host's API refuses is a fleet event an operator reads", async () => {
  const body = JSON.stringify({ user: 'mallory', password: 'guess', code: '000000' });
  const url = `http://127.0.0.1:${API_PORT}/login`;
  const curl = [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '-H',
    'content-type: application/json',
    '--data',
    body,
    url,
  ];
  const login = spawnSync('ip', ['netns', 'exec', HOST_NETNS, 'curl', ...curl], { encoding: 'utf8' });
  assert.is(login.stdout, '401', login.stderr);
  const until = Date.now() + 30_000;
  for (;;) {
    const events = await fleet('events', [HOST, '--json']);
    assert.is(events.status, 0, events.stderr);
    if (events.stdout.includes('login refused: mallory from 127.0.0.1')) break;
    if (Date.now() > until) throw new Error(`no login-refused event within 30 s:\n${events.stdout}`);
    await sleep(1000);
  }
});

test('the router killed: the link says so, and comes back with the router by itself', async () => {
  const router = await run.vm('router');
  process.kill(router.pid!, 'SIGKILL');
  await linkUntil('disconnected', 60_000);
  await run.waitForVm('router', (vm) => vm.state === 'ready' && vm.pid !== router.pid, BOOT_MS, 'came back');
  await linkUntil('connected', 90_000);
  const host = await listed();
  assert.ok(host && !host.stale, JSON.stringify(host));
});

test.run();
