// The fleet against a real NATS cluster of three (Debian's nats-server on loopback, JetStream replicated): agents'
// fleet links over fake VMs publish their status and events, an operator lists them within seconds and runs jail
// commands on them (audited with the operator's name; anything outside the command set refused); a host's credentials
// cannot publish another host's status or events or take its commands; one broker node killed loses no status or
// event and the links reconnect; a host that stops goes stale.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, headers, nkeyAuthenticator } from '@nats-io/transport-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AuditLog } from '../../agent/auth/audit.ts';
import { FakeControls } from '../../agent/fake-controls.test-support.ts';
import { FleetLink } from '../../agent/fleet/link.ts';
import { brokerAuthorization } from '../../builder/fleet/broker-config.ts';
import { connectOperator, fleetEvents, listHosts, runOnHost, setupFleet } from '../../builder/fleet/client.ts';
import { listIdentities, readSeed } from '../../builder/fleet/identities.ts';
import type { AgentStatus } from '../../common/api-types.ts';
import type { FleetEvent } from '../../common/fleet/status.ts';
import {
  EVENTS_STREAM,
  eventsSubject,
  inboxPrefix,
  STATUS_BUCKET,
  statusSubject,
} from '../../common/fleet/subjects.ts';
import { NatsCluster } from '../lib/nats-lab.ts';

let dir: string;
const repo = join(import.meta.dirname, '../..');

// The real CLI, without blocking this process (the hosts' links live here and must answer it).
function mvos(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(repo, 'mvos'), args, { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ status: error ? ((error.code as number) ?? -1) : 0, stdout, stderr }),
    );
  });
}
let cluster: NatsCluster;
const links = new Map<string, { link: FleetLink; controls: FakeControls; audit: AuditLog }>();

function statusOf(host: string, controls: FakeControls): () => AgentStatus {
  return () => ({
    host: { name: host, version: '1.2.3' },
    state: 'ready',
    pid: 1,
    node: process.version,
    startedAt: '2026-12-07T00:00:00.000Z',
    accel: 'tcg',
    accelReason: 'test',
    stateDir: dir,
    warnings: [],
    rescue: { active: false },
    vms: controls.listVms(),
  });
}

async function seedOf(kind: 'host' | 'operator', name: string): Promise<Uint8Array> {
  return (await readSeed(join(dir, 'keys', 'fleet', kind === 'host' ? 'hosts' : 'operators', `${name}.nk`))).seed;
}

async function startLink(host: string): Promise<void> {
  const controls = new FakeControls();
  const audit = new AuditLog(join(dir, host));
  const link = FleetLink.start({
    servers: cluster.servers,
    host,
    seed: await seedOf('host', host),
    intervalMs: 1000,
    status: statusOf(host, controls),
    controls,
    audit,
    log: () => undefined,
  });
  links.set(host, { link, controls, audit });
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    const value = await check().catch((error: Error) => {
      lastError = error.message;
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > end)
      throw new Error(`${what} within ${timeoutMs / 1000} s${lastError ? ` (last: ${lastError})` : ''}`);
    await sleep(200);
  }
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mvos-fleet-'));
  const keys = join(dir, 'keys');
  for (const args of [
    ['enroll', 'h1'],
    ['enroll', 'h2'],
    ['enroll', 'real'],
    ['operator', 'ops'],
  ]) {
    const made = await mvos('fleet', ...args, '--key-dir', keys);
    assert.is(made.status, 0, made.stderr);
    assert.match(made.stdout, /^made fleet (host|operator) \w+: U[A-Z2-7]{55} \(seed .*\.nk, 0600\)/);
  }
  const auth = await mvos('fleet', 'broker-config', '--key-dir', keys, '--out', join(dir, 'auth.conf'));
  assert.is(auth.status, 0, auth.stderr);
  const authorization = await readFile(join(dir, 'auth.conf'), 'utf8');
  assert.is(authorization, brokerAuthorization(await listIdentities(keys)));
  cluster = await NatsCluster.start(authorization);
  const nc = await connectOperator(cluster.servers, 'ops', await seedOf('operator', 'ops'));
  await setupFleet(nc, { maxAgeSeconds: 600, replicas: 3, eventsDays: 1 });
  await nc.close();
});

test.after(async () => {
  for (const { link, audit } of links.values()) {
    await link.close();
    await audit.close();
  }
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('two hosts report; the operator lists both within seconds, with their VMs, and reads their events', async () => {
  const started = Date.now();
  await startLink('h1');
  await startLink('h2');
  const nc = await connectOperator(cluster.servers, 'ops', await seedOf('operator', 'ops'));
  try {
    const hosts = await until('both hosts listed', async () => {
      const list = (await listHosts(nc, 10)).hosts;
      return list.length === 2 ? list : undefined;
    });
    console.log(`  both hosts listed ${((Date.now() - started) / 1000).toFixed(1)} s after their agents started`);
    assert.equal(
      hosts.map((h) => [h.status.host, h.stale, h.status.vms.map((vm) => vm.name).join(',')]),
      [
        ['h1', false, 'controller,rescue,web'],
        ['h2', false, 'controller,rescue,web'],
      ],
    );
    assert.is(links.get('h1')!.link.view().state, 'connected');
    const events: FleetEvent[] = [];
    for await (const event of fleetEvents(nc, {})) events.push(event);
    assert.ok(
      events.some((e) => e.host === 'h1' && /agent 1\.2\.3 up/.test(e.text)),
      JSON.stringify(events),
    );
    assert.ok(events.some((e) => e.host === 'h2' && /agent 1\.2\.3 up/.test(e.text)));
  } finally {
    await nc.close();
  }
});

test('an operator runs jail commands on a host, audited with their name; anything else is refused', async () => {
  const nc = await connectOperator(cluster.servers, 'ops', await seedOf('operator', 'ops'));
  try {
    const list = await runOnHost(nc, 'ops', 'h1', 'vm list');
    assert.is(list.exitCode, 0, list.stderr);
    assert.match(list.stdout, /controller\s+controller/);
    const stopped = await runOnHost(nc, 'ops', 'h1', 'vm stop web');
    assert.is(stopped.exitCode, 0, stopped.stderr);
    assert.equal(links.get('h1')!.controls.calls.slice(-1), [{ method: 'stopVm', args: ['web'] }]);
    for (const [command, why] of [
      ['reboot now', /unknown command `reboot now`/],
      ['status; reboot', /shell syntax/],
      ['console controller', /streams; use the SSH jail/],
    ] as const) {
      const refused = await runOnHost(nc, 'ops', 'h1', command);
      assert.is(refused.exitCode, 2, command);
      assert.match(refused.stderr, why);
    }
    await links.get('h1')!.audit.close();
    const audit = await readFile(join(dir, 'h1', 'audit.log'), 'utf8');
    assert.match(audit, /"who":"fleet:ops".*"target":"vm stop web"/);
    assert.match(audit, /"who":"fleet:ops".*"result":"refused".*"target":"reboot now"/);
  } finally {
    await nc.close();
  }
});

test("a host's credentials reach only its own subjects: not another's status, events or commands", async () => {
  const nc = await connect({
    servers: cluster.servers,
    authenticator: nkeyAuthenticator(await seedOf('host', 'h1')),
    inboxPrefix: inboxPrefix('host', 'h1'),
  });
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.error));
  })();
  try {
    const kv = await new Kvm(nc).open(STATUS_BUCKET);
    await kv.put('h1', JSON.stringify({ host: 'h1', note: 'its own' }));
    const forged = await kv.put('h2', JSON.stringify({ host: 'h2', forged: true })).then(
      () => 'stored',
      (error: Error) => error.message,
    );
    assert.is.not(forged, 'stored');
    // Its own key with a roll-up header would purge every host's status if the bucket took roll-ups.
    const rollup = headers();
    rollup.set('Nats-Rollup', 'all');
    const rolled = await jetstream(nc)
      .publish(statusSubject('h1'), JSON.stringify({ host: 'h1' }), { headers: rollup, timeout: 5000 })
      .then(
        () => 'stored',
        (error: Error) => error.message,
      );
    assert.match(rolled, /rollup/i);
    nc.publish(eventsSubject('h2'), JSON.stringify({ host: 'h2', text: 'forged event' }));
    nc.subscribe('fleet.h2.cmd.*');
    await nc.flush();
    await sleep(500);
    assert.ok(
      errors.some((e) => /Permissions Violation for Publish to "\$KV\.mvos-fleet\.h2"/.test(e)),
      errors.join('\n'),
    );
    assert.ok(
      errors.some((e) => /Permissions Violation for Publish to "fleet\.h2\.events"/.test(e)),
      errors.join('\n'),
    );
    assert.ok(
      errors.some((e) => /Permissions Violation for Subscription to "fleet\.h2\.cmd\.\*"/.test(e)),
      errors.join('\n'),
    );
  } finally {
    await nc.close();
  }
  const ops = await connectOperator(cluster.servers, 'ops', await seedOf('operator', 'ops'));
  try {
    const h2 = (await listHosts(ops, 10)).hosts.find((h) => h.status.host === 'h2')!;
    assert.not.ok('forged' in h2.status, 'h2 is what h2 said');
    const events: FleetEvent[] = [];
    for await (const event of fleetEvents(ops, { host: 'h2' })) events.push(event);
    assert.not.ok(events.some((e) => e.text === 'forged event'));
  } finally {
    await ops.close();
  }
});

test("an operator reaches the fleet's two streams only: no stream over another's inbox", async () => {
  const ops = await connectOperator(cluster.servers, 'ops', await seedOf('operator', 'ops'));
  try {
    const jsm = await jetstreamManager(ops, { timeout: 3000 });
    const spy = await jsm.streams.add({ name: 'SPY', subjects: ['_INBOX_o_other.>'] }).then(
      () => 'made',
      (error: Error) => error.message,
    );
    assert.is.not(spy, 'made');
    // What it may do still works (h1's next put replaces the document the last test put by hand).
    await until('both hosts listed', async () => ((await listHosts(ops, 10)).hosts.length === 2 ? true : undefined));
  } finally {
    await ops.close();
  }
});

test('one broker node killed: no status or event lost, the links reconnect, new events arrive', async () => {
  const victim = cluster.nodes[0]!.name;
  await cluster.killNode(victim);
  links.get('h1')!.link.event('test', 'after the node died');
  const ops = await connectOperator(cluster.servers.slice(1), 'ops', await seedOf('operator', 'ops'));
  try {
    await until('h1 and h2 connected again', async () =>
      [...links.values()].every((l) => l.link.view().state === 'connected') ? true : undefined,
    );
    const events = await until('the new event and the old ones', async () => {
      const all: FleetEvent[] = [];
      for await (const event of fleetEvents(ops, {})) all.push(event);
      return all.some((e) => e.text === 'after the node died') ? all : undefined;
    });
    assert.ok(events.filter((e) => /agent 1\.2\.3 up/.test(e.text)).length >= 2, 'the events from before are there');
    assert.is((await listHosts(ops, 10)).hosts.length, 2);
  } finally {
    await ops.close();
    await cluster.startNode(victim);
  }
  // Back to three: the next tests start on a whole cluster again, both streams led and every replica caught up (the
  // node that came back catching up moves leaders for a while, and a read through it meanwhile times out), and each
  // node answering a read.
  const again = await connectOperator(cluster.servers, 'ops', await seedOf('operator', 'ops'));
  const jsm = await jetstreamManager(again);
  await until(
    'both streams led by a node with every replica current',
    async () => {
      for (const stream of [`KV_${STATUS_BUCKET}`, EVENTS_STREAM]) {
        const info = (await jsm.streams.info(stream)).cluster;
        if (!info?.leader || info.replicas?.length !== 2 || !info.replicas.every((r) => r.current && !r.offline))
          throw new Error(`${stream}: ${JSON.stringify(info)}`);
      }
      return true;
    },
    60_000,
  );
  await again.close();
  for (const server of cluster.servers) {
    const one = await connectOperator([server], 'ops', await seedOf('operator', 'ops'));
    await until(`${server} answering a read`, async () =>
      (await listHosts(one, 10)).hosts.length === 2 ? true : undefined,
    );
    await one.close();
  }
});

test('the CLI: fleet ls, status, run and events as an operator', async () => {
  const connect = ['--server', cluster.servers.join(','), '--key-dir', join(dir, 'keys')];
  const ls = await mvos('fleet', 'ls', ...connect.slice(0, 1), cluster.servers[1]!, ...connect.slice(2));
  assert.is(ls.status, 0, ls.stderr);
  assert.match(
    ls.stdout,
    /^HOST\s+STATE\s+VERSION\s+VMS\s+NOTE\nh1\s+ready\s+h1 1\.2\.3\s+controller:ready rescue:stopped web:stopped/,
  );
  assert.match(ls.stdout, /\nh2\s+ready\s+h2 1\.2\.3/);
  const one = await mvos('fleet', 'status', 'h1', '--server', cluster.servers[2]!, '--key-dir', join(dir, 'keys'));
  assert.is(one.status, 0, one.stderr);
  assert.match(one.stdout, /^h1: h1 1\.2\.3, reported \d+ s ago\nagent ready since/);
  // `fleet run h2 -- WORDS` through the second broker.
  const onH2 = (...words: string[]) =>
    mvos('fleet', 'run', 'h2', '--server', cluster.servers[1]!, '--key-dir', join(dir, 'keys'), '--', ...words);
  const run = await onH2('vm', 'list');
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /controller\s+controller/);
  const refused = await onH2('console', 'web');
  assert.is(refused.status, 2);
  assert.match(refused.stderr, /streams; use the SSH jail/);
  const events = await mvos('fleet', 'events', 'h1', '--server', cluster.servers[1]!, '--key-dir', join(dir, 'keys'));
  assert.is(events.status, 0, events.stderr);
  assert.match(events.stdout, /^\S+Z {2}h1 {2}agent 1\.2\.3 up, linked to the fleet$/m);
  assert.not.match(events.stdout, / {2}h2 {2}/);
  const nobody = await mvos('fleet', 'ls', '--server', 'nats://127.0.0.1:9', '--key-dir', join(dir, 'keys'));
  assert.is(nobody.status, 1);
  assert.match(nobody.stderr, /no fleet broker answered at nats:\/\/127\.0\.0\.1:9/);
});

// The real agent process (`agent/main.ts`, as init starts it) with a fleet section in its host.json; its VMs' kernels
// are not there, so the controller fails at once, which the fleet then shows.
async function realAgent(
  name: string,
  servers: string[],
  seedFile: string,
): Promise<{ child: ChildProcess; runDir: string; ready: Promise<number> }> {
  const config = {
    name: 'real-host',
    version: '2.0.0',
    stateLabel: 'MVOS-STATE',
    agent: { fleet: { servers, host: 'real', seedFile, intervalSeconds: 1 } },
    vms: [
      {
        name: 'controller',
        role: 'controller',
        launch: 'vm',
        cpus: 1,
        memoryMiB: 256,
        kernel: '/nonexistent/vmlinuz',
        initrd: '/nonexistent/initrd',
        cmdline: 'console=ttyS0',
        firmware: 'none',
        health: { deadlineSeconds: 60, marker: 'MVOS-GUEST-READY' },
      },
    ],
  };
  const configFile = join(dir, `${name}.json`);
  await writeFile(configFile, JSON.stringify(config));
  const runDir = join(dir, name, 'run');
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'agent/main.ts',
      '--config',
      configFile,
      '--state-dir',
      join(dir, name, 'state'),
      '--run-dir',
      runDir,
      '--accel',
      'tcg',
    ],
    { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  child.stderr!.on('data', (chunk) => (out += chunk));
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      if (/MVOS-AGENT-READY/.test(out)) {
        clearInterval(timer);
        resolve(Date.now() - started);
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`the agent exited: ${out}`));
      }
    }, 50);
  });
  return { child, runDir, ready };
}

test('the real agent reports to the fleet and takes its commands; with no broker it starts all the same', async () => {
  const seedFile = join(dir, 'keys', 'fleet', 'hosts', 'real.nk');
  const nowhere = await realAgent('no-broker', ['nats://127.0.0.1:9'], seedFile);
  const agent = await realAgent('real', cluster.servers, seedFile);
  const ops = await connectOperator(cluster.servers, 'ops', await seedOf('operator', 'ops'));
  try {
    const alone = await nowhere.ready;
    console.log(`  an agent whose broker is down was ready in ${(alone / 1000).toFixed(1)} s`);
    const status = await until('the unreachable broker in status.json', async () => {
      const doc = JSON.parse(await readFile(join(nowhere.runDir, 'status.json'), 'utf8')) as AgentStatus;
      return doc.fleet && doc.fleet.state !== 'connected' ? doc : undefined;
    });
    assert.ok(['connecting', 'disconnected'].includes(status.fleet!.state));
    await agent.ready;
    const real = await until('the real agent listed', async () =>
      (await listHosts(ops, 10)).hosts.find((h) => h.status.host === 'real' && h.status.vms[0]?.state === 'failed'),
    );
    assert.equal([real.status.name, real.status.version], ['real-host', '2.0.0']);
    assert.match(real.status.vms[0]!.failure ?? '', /nonexistent/);
    const answer = await runOnHost(ops, 'ops', 'real', 'vm status controller');
    assert.is(answer.exitCode, 0, answer.stderr);
    assert.match(answer.stdout, /^controller: failed/);
    const events: FleetEvent[] = [];
    for await (const event of fleetEvents(ops, { host: 'real' })) events.push(event);
    assert.ok(
      events.some((e) => e.kind === 'vm-failed' && /^controller .*failed: /.test(e.text)),
      JSON.stringify(events),
    );
    let last = '';
    await until('status.json saying the link is up', async () => {
      const doc = JSON.parse(await readFile(join(agent.runDir, 'status.json'), 'utf8')) as AgentStatus;
      last = JSON.stringify(doc.fleet);
      return doc.fleet?.state === 'connected' ? true : undefined;
    }).catch((error: Error) => {
      throw new Error(`${error.message}: ${last}`);
    });
  } finally {
    await ops.close();
    for (const child of [agent.child, nowhere.child]) child.kill('SIGTERM');
  }
  await sleep(500);
  const audit = await readFile(join(dir, 'real', 'state', 'audit.log'), 'utf8');
  assert.match(
    audit,
    /"who":"fleet:ops","source":"fleet","action":"exec","result":"ok","target":"vm status controller"/,
  );
});

test('a host that stops goes stale by the broker clock', async () => {
  await links.get('h2')!.link.close();
  const ops = await connectOperator(cluster.servers, 'ops', await seedOf('operator', 'ops'));
  try {
    let seen = '';
    const h2 = await until('h2 stale', async () => {
      const listed = await listHosts(ops, 3);
      const host = listed.hosts.find((h) => h.status.host === 'h2');
      seen = JSON.stringify({
        h2: host && { age: host.ageSeconds },
        hosts: listed.hosts.length,
        unreadable: listed.unreadable,
      });
      return host?.stale ? host : undefined;
    }).catch((error: Error) => {
      throw new Error(`${error.message}; last seen ${seen}`);
    });
    assert.ok(h2.ageSeconds > 3);
    assert.not.ok((await listHosts(ops, 3)).hosts.find((h) => h.status.host === 'h1')!.stale, 'h1 keeps reporting');
  } finally {
    await ops.close();
  }
});

test.run();
