// `mvos fleet`: many hosts through one NATS broker cluster (ours is only the clients, never the cluster). Enroll hosts
// and operators (nkeys in the key folder), write the broker's authorization block, make the bucket and stream, and as
// an operator: list every host, show one, read the events, run a jail command on a host.
import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../../../common/atomic-write.ts';
import { FailureError, UserError } from '../../../common/errors.ts';
import { type FleetStatus, printable } from '../../../common/fleet/status.ts';
import { renderTable } from '../../../common/table.ts';
import { brokerAuthorization } from '../../fleet/broker-config.ts';
import { connectOperator, type FleetHost, fleetEvents, listHosts, runOnHost, setupFleet } from '../../fleet/client.ts';
import { enrollIdentity, identityOf, listIdentities, readSeed } from '../../fleet/identities.ts';
import { fleetCaFile } from '../../secrets/fleet-files.ts';
import type { Command, CommandContext, Flags } from '../command.ts';
import { keyDirOf } from './otp.ts';

// How long a host may be silent before `ls` marks it stale (its agent puts its status every 5 s).
const STALE_SECONDS = 20;

const CONNECT_FLAGS: Flags = {
  server: { type: 'string', multiple: true },
  as: { type: 'string' },
  ca: { type: 'string' },
  'key-dir': { type: 'string' },
};
const CONNECT_HELP = {
  server: 'a broker URL, nats://HOST:4222 or tls://… (repeatable; default $MVOS_FLEET_SERVERS, comma-separated)',
  as: 'the operator to act as (default: the one operator in the key folder)',
  ca: "the CA certificate of tls:// brokers (default: the key folder's fleet/ca.crt when there, else Node's CA list)",
  'key-dir': 'the key folder (default $XDG_CONFIG_HOME/mvos/keys)',
};

function servers(ctx: CommandContext): string[] {
  const given = (ctx.flags.server as string[] | undefined) ?? (process.env.MVOS_FLEET_SERVERS ?? '').split(',');
  const list = given.map((s) => s.trim()).filter(Boolean);
  if (list.length === 0)
    throw new UserError('name the broker', { hint: '--server nats://HOST:4222 or MVOS_FLEET_SERVERS' });
  for (const url of list)
    if (!/^(nats|tls):\/\/[A-Za-z0-9.[\]:-]+(:\d+)?$/.test(url))
      throw new UserError(`"${url}" is not a broker URL (nats://HOST:PORT or tls://HOST:PORT)`);
  return list;
}

// Connects as the operator --as names (or the only one there is).
async function operator(ctx: CommandContext) {
  const keyDir = keyDirOf(ctx);
  let name = ctx.flags.as as string | undefined;
  if (!name) {
    const operators = (await listIdentities(keyDir)).filter((id) => id.kind === 'operator');
    if (operators.length !== 1)
      throw new UserError(
        operators.length === 0
          ? `no fleet operator in ${keyDir}`
          : `${operators.length} operators: say which with --as`,
        { hint: operators.length === 0 ? 'mvos fleet operator NAME, then add it to the broker' : undefined },
      );
    name = operators[0]!.name;
  }
  const { seed } = await readSeed(await identityOf(keyDir, 'operator', name));
  const given = ctx.flags.ca as string | undefined;
  const caFile = given ?? (existsSync(fleetCaFile(keyDir)) ? fleetCaFile(keyDir) : undefined);
  if (given && !existsSync(given)) throw new UserError(`--ca ${given}: no such file`);
  return { name, nc: await connectOperator(servers(ctx), name, seed, { ...(caFile ? { caFile } : {}) }) };
}

// A host's document with every string made printable: what a host publishes reaches this terminal.
function printableStatus(s: FleetStatus): FleetStatus {
  const p = (text: string) => printable(text, 200);
  return {
    ...s,
    host: p(s.host),
    name: p(s.name),
    version: p(s.version),
    agent: { ...s.agent, state: p(s.agent.state) as FleetStatus['agent']['state'], since: p(s.agent.since) },
    rescue: { active: s.rescue.active, ...(s.rescue.reason ? { reason: p(s.rescue.reason) } : {}) },
    vms: s.vms.map((vm) => ({
      name: p(vm.name),
      role: p(vm.role),
      state: p(vm.state),
      ...(vm.failure ? { failure: p(vm.failure) } : {}),
    })),
    warnings: s.warnings.map(p),
  };
}

function hostLine(host: FleetHost): Record<string, string> {
  const s = printableStatus(host.status);
  const failed = s.vms.filter((vm) => vm.state === 'failed').length;
  return {
    host: s.host,
    state: host.stale ? `STALE (${host.ageSeconds} s)` : s.rescue.active ? 'RESCUE' : s.agent.state,
    version: `${s.name} ${s.version}${s.slot ? ` (${s.slot})` : ''}`,
    vms: s.vms.map((vm) => `${vm.name}:${vm.state}`).join(' '),
    note: failed ? `${failed} failed` : (s.warnings[0] ?? ''),
  };
}

const HOST_COLUMNS = ['host', 'state', 'version', 'vms', 'note'].map((key) => ({
  header: key.toUpperCase(),
  cell: (row: Record<string, string>) => row[key] ?? '',
}));

async function ls(ctx: CommandContext): Promise<number> {
  const { nc } = await operator(ctx);
  try {
    const { hosts, unreadable } = await listHosts(nc, STALE_SECONDS);
    if (ctx.json) ctx.out(JSON.stringify({ hosts, unreadable }, null, 2));
    else {
      ctx.out(hosts.length === 0 ? 'no host has reported' : renderTable(HOST_COLUMNS, hosts.map(hostLine)).join('\n'));
      if (unreadable.length > 0) ctx.out(`not a status this mvos reads: ${unreadable.join(', ')}`);
    }
    return 0;
  } finally {
    await nc.close();
  }
}

function statusLines(host: FleetHost): string[] {
  const s = printableStatus(host.status);
  return [
    `${s.host}: ${s.name} ${s.version}${s.slot ? ` (slot ${s.slot})` : ''}, ${host.stale ? `STALE, last report ${host.ageSeconds} s ago` : `reported ${host.ageSeconds} s ago`}`,
    `agent ${s.agent.state} since ${s.agent.since} (${s.agent.accel})`,
    `rescue ${s.rescue.active ? `ACTIVE${s.rescue.reason ? `: ${s.rescue.reason}` : ''}` : 'not active'}`,
    ...s.warnings.map((w) => `warning: ${w}`),
    '',
    ...renderTable(
      ['name', 'role', 'state', 'failure'].map((key) => ({
        header: key.toUpperCase(),
        cell: (vm: FleetStatus['vms'][number]) => String(vm[key as keyof typeof vm] ?? ''),
      })),
      s.vms,
    ),
  ];
}

async function status(ctx: CommandContext): Promise<number> {
  const name = ctx.positionals[0];
  if (!name) throw new UserError('name the host', { hint: 'mvos fleet status HOST' });
  const { nc } = await operator(ctx);
  try {
    const host = (await listHosts(nc, STALE_SECONDS)).hosts.find((h) => h.status.host === name);
    if (!host) throw new UserError(`no host ${name} has reported`, { hint: '`mvos fleet ls` lists those that have' });
    ctx.out(ctx.json ? JSON.stringify(host, null, 2) : statusLines(host).join('\n'));
    return 0;
  } finally {
    await nc.close();
  }
}

async function events(ctx: CommandContext): Promise<number> {
  const host = ctx.positionals[0];
  const follow = Boolean(ctx.flags.follow);
  const { nc } = await operator(ctx);
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  try {
    for await (const event of fleetEvents(nc, { ...(host ? { host } : {}), follow, last: 200, signal: stop.signal }))
      ctx.out(ctx.json ? JSON.stringify(event) : `${event.at}  ${event.host}  ${event.text}`);
    return 0;
  } finally {
    await nc.close();
  }
}

async function run(ctx: CommandContext): Promise<number> {
  const [host, ...words] = ctx.positionals;
  if (!host || words.length === 0)
    throw new UserError('name the host and the command', { hint: 'mvos fleet run HOST -- vm list' });
  const { name, nc } = await operator(ctx);
  try {
    const answer = await runOnHost(nc, name, host, words.join(' '));
    if (answer.stdout) ctx.out(answer.stdout.replace(/\n$/, ''));
    if (answer.stderr) ctx.err(answer.stderr.replace(/\n$/, ''));
    return answer.exitCode === 0 ? 0 : answer.exitCode === 2 ? 2 : 1;
  } finally {
    await nc.close();
  }
}

async function enroll(ctx: CommandContext, kind: 'host' | 'operator'): Promise<number> {
  const name = ctx.positionals[0];
  if (!name)
    throw new UserError(`name the ${kind}`, { hint: `mvos fleet ${kind === 'host' ? 'enroll' : 'operator'} NAME` });
  const id = await enrollIdentity(keyDirOf(ctx), kind, name, { replace: Boolean(ctx.flags.force) });
  ctx.out(
    `${id.made ? 'made' : 'kept'} fleet ${kind} ${name}: ${id.publicKey} (seed ${id.file}, 0600)\n` +
      'write the broker its authorization again (mvos fleet broker-config) and reload it (nats-server --signal reload)',
  );
  return 0;
}

async function brokerConfig(ctx: CommandContext): Promise<number> {
  const text = brokerAuthorization(await listIdentities(keyDirOf(ctx)));
  const out = ctx.flags.out as string | undefined;
  if (out) await writeFileAtomic(out, text, { mode: 0o644 });
  else ctx.out(text.replace(/\n$/, ''));
  return 0;
}

async function setup(ctx: CommandContext): Promise<number> {
  const replicas = Number((ctx.flags.replicas as string | undefined) ?? '3');
  if (![1, 3, 5].includes(replicas)) throw new UserError('--replicas is 1, 3 or 5 (a cluster of that many brokers)');
  const { nc } = await operator(ctx);
  try {
    await setupFleet(nc, { maxAgeSeconds: 3600, replicas, eventsDays: 30 }).catch((error: Error) => {
      if (!/timeout|no responders/i.test(error.message)) throw error;
      throw new FailureError(`the brokers did not make the bucket and stream: ${error.message}`, {
        hint: `a cluster whose brokers just started elects its JetStream leader first, and a bucket of ${replicas} replicas needs ${replicas} brokers with JetStream on: check them, then run setup again`,
      });
    });
    ctx.out(`the fleet's status bucket and events stream are ready (${replicas} replicas)`);
    return 0;
  } finally {
    await nc.close();
  }
}

const withKeys = { 'key-dir': { type: 'string' } } as const;

// The fleet verb.
export const fleetCommand: Command = {
  name: 'fleet',
  summary: 'many hosts through a NATS broker cluster: enroll, list, status, events, run',
  usage: 'mvos fleet <enroll|operator|broker-config|setup|ls|status|events|run> …',
  description:
    "Hosts connect out to the broker (NAT is no obstacle) with their own nkey and may publish only their own status and events and answer only their own commands; the broker cluster (Debian's nats-server with JetStream) is the only shared part.",
  flags: {},
  flagHelp: {},
  subcommands: [
    {
      name: 'enroll',
      summary: "make a host's fleet identity (an nkey in the key folder)",
      usage: 'mvos fleet enroll HOST [--force] [--key-dir DIR]',
      flags: { ...withKeys, force: { type: 'boolean' } },
      flagHelp: { 'key-dir': CONNECT_HELP['key-dir'], force: 'replace an existing identity' },
      run: (ctx) => enroll(ctx, 'host'),
    },
    {
      name: 'operator',
      summary: "make an operator's fleet identity",
      usage: 'mvos fleet operator NAME [--force] [--key-dir DIR]',
      flags: { ...withKeys, force: { type: 'boolean' } },
      flagHelp: { 'key-dir': CONNECT_HELP['key-dir'], force: 'replace an existing identity' },
      run: (ctx) => enroll(ctx, 'operator'),
    },
    {
      name: 'broker-config',
      summary: "the broker's authorization block: every host and operator with its permissions",
      usage: 'mvos fleet broker-config [--out FILE] [--key-dir DIR]',
      flags: { ...withKeys, out: { type: 'string' } },
      flagHelp: { 'key-dir': CONNECT_HELP['key-dir'], out: 'write it to FILE (include it in nats-server.conf)' },
      run: brokerConfig,
    },
    {
      name: 'setup',
      summary: 'make the status bucket and the events stream on the broker',
      usage: 'mvos fleet setup [--replicas 3] [--server URL…] [--as OPERATOR]',
      flags: { ...CONNECT_FLAGS, replicas: { type: 'string' } },
      flagHelp: { ...CONNECT_HELP, replicas: 'copies of each (1, 3 or 5; default 3)' },
      run: setup,
    },
    {
      name: 'ls',
      summary: 'every host and its VMs (stale ones marked)',
      usage: 'mvos fleet ls [--server URL…] [--as OPERATOR] [--json]',
      flags: CONNECT_FLAGS,
      flagHelp: CONNECT_HELP,
      json: true,
      run: ls,
    },
    {
      name: 'status',
      summary: "one host's status",
      usage: 'mvos fleet status HOST [--server URL…] [--as OPERATOR] [--json]',
      flags: CONNECT_FLAGS,
      flagHelp: CONNECT_HELP,
      json: true,
      run: status,
    },
    {
      name: 'events',
      summary: "the hosts' events, like a chat log (--follow: and new ones as they come)",
      usage: 'mvos fleet events [HOST] [--follow] [--server URL…] [--as OPERATOR] [--json]',
      flags: { ...CONNECT_FLAGS, follow: { type: 'boolean' } },
      flagHelp: { ...CONNECT_HELP, follow: 'keep printing new events until Ctrl-C' },
      json: true,
      run: events,
    },
    {
      name: 'run',
      summary: "run one of the SSH jail's commands on a host, audited there with your name",
      usage: 'mvos fleet run HOST -- COMMAND… [--server URL…] [--as OPERATOR]',
      flags: CONNECT_FLAGS,
      flagHelp: CONNECT_HELP,
      run,
    },
  ],
};
