// `mvos net list|rules` and `mvos vm net|rules`: the host's networks, a VM's links and rules, and rule changes.
import { readFile } from 'node:fs/promises';
import type { VmNetView } from '../../../common/api-types.ts';
import { UserError } from '../../../common/errors.ts';
import { renderTable } from '../../../common/table.ts';
import { LINK_COLUMNS, NETWORK_COLUMNS, ruleText, tunnelLines } from '../../../common/view-columns.ts';
import { normalizeRule } from '../../recipe/normalize.ts';
import type { NetRule as RecipeRule } from '../../recipe/schema.types.ts';
import { parseYaml } from '../../recipe/yaml-source.ts';
import type { Command, CommandContext } from '../command.ts';
import { client, connection, connectionHelp, print, vmName } from './agent-connection.ts';

const LINKS = [
  LINK_COLUMNS.network,
  LINK_COLUMNS.address,
  LINK_COLUMNS.gateway,
  LINK_COLUMNS.mac,
  LINK_COLUMNS.router,
  LINK_COLUMNS.sent,
  LINK_COLUMNS.received,
  LINK_COLUMNS.forwards,
  LINK_COLUMNS.way,
];

function rulesLines(vm: string, links: VmNetView[]): string[] {
  const rules = links[0]?.rules ?? [];
  const lines = rules.map((rule, i) => `  ${i + 1}. ${ruleText(rule)}`);
  return [
    `${vm}:`,
    ...(lines.length > 0 ? lines : ['  (no rules)']),
    '  then: other VMs dropped, the uplink per the network',
  ];
}

// `mvos vm net NAME`: the VM's links with addresses, MACs and counters.
export async function vmNet(ctx: CommandContext): Promise<number> {
  const name = vmName(ctx);
  const links = await client(ctx).answer('GET /api/vms/{name}/net', { name });
  return print(ctx, links, () => (links.length === 0 ? [`${name} is on no network`] : renderTable(LINKS, links)));
}

// The rules of a file in the recipe's shape (`- { action: allow, proto: tcp, to: …, port: … }`), YAML or JSON.
async function rulesFromFile(file: string): Promise<unknown[]> {
  const text = await readFile(file, 'utf8').catch((error: Error) => {
    throw new UserError(`cannot read ${file}: ${error.message}`);
  });
  const { data: value, problems } = parseYaml(text, file);
  if (problems.length > 0) throw new UserError(`${file} is not valid YAML`, { problems });
  if (!Array.isArray(value))
    throw new UserError(`${file} must hold a list of rules`, {
      hint: 'e.g. `- { action: allow, proto: tcp, port: 443 }`',
    });
  return value.map((rule, i) => {
    const raw = rule as RecipeRule;
    if (typeof raw !== 'object' || raw === null || (raw.action !== 'allow' && raw.action !== 'deny'))
      throw new UserError(`${file}: rule ${i + 1} needs action: allow or deny`);
    return normalizeRule(raw);
  });
}

// `mvos vm rules NAME [--set FILE]`: shows the VM's rules, or replaces them (its router applies them at once).
export async function vmRules(ctx: CommandContext): Promise<number> {
  const name = vmName(ctx);
  const agent = client(ctx);
  const file = ctx.flags.set as string | undefined;
  const links = file
    ? await agent.answer('POST /api/vms/{name}/rules', { name }, { rules: await rulesFromFile(file) })
    : await agent.answer('GET /api/vms/{name}/net', { name });
  if (links.length === 0 && !file) return print(ctx, links, () => [`${name} is on no network`]);
  return print(ctx, links, () => rulesLines(name, links));
}

async function list(ctx: CommandContext): Promise<number> {
  const view = await client(ctx).answer('GET /api/networks', {});
  return print(ctx, view, () => [
    ...renderTable(Object.values(NETWORK_COLUMNS), view.networks),
    ...view.routers.flatMap((r) => [
      `router ${r.vm}: ${r.state ?? 'unknown'}, uplink ${r.uplink}, ${r.ipv4}`,
      ...(r.problems ?? []).map((p) => `  uplink problem: ${p}`),
    ]),
  ]);
}

async function rules(ctx: CommandContext): Promise<number> {
  const agent = client(ctx);
  const view = await agent.answer('GET /api/networks', {});
  const only = ctx.positionals[0];
  const vms = [...new Set(view.networks.flatMap((n) => n.vms))].filter((vm) => !only || vm === only);
  if (only && vms.length === 0) throw new UserError(`${only} is on no network`, { hint: '`mvos net list` shows them' });
  const all: Record<string, VmNetView[]> = {};
  for (const vm of vms) all[vm] = await agent.answer('GET /api/vms/{name}/net', { name: vm });
  return print(ctx, all, () => Object.entries(all).flatMap(([vm, links]) => rulesLines(vm, links)));
}

// `mvos net status`: each VPN network's tunnel — state, endpoint, last handshake, bytes, exit address.
async function status(ctx: CommandContext): Promise<number> {
  const view = await client(ctx).answer('GET /api/networks', {});
  return print(
    ctx,
    view.networks.filter((n) => n.tunnel),
    () => tunnelLines(view),
  );
}

// `mvos net restart NETWORK`: the network's tunnel down and up again in its router; the kill switch holds throughout.
async function restart(ctx: CommandContext): Promise<number> {
  const name = ctx.positionals[0];
  if (!name)
    throw new UserError('mvos net restart needs a network', { hint: '`mvos net status` lists the VPN networks' });
  const network = await client(ctx).answer('POST /api/networks/{name}/restart', { name });
  return print(ctx, network, () => [`${name}: tunnel ${network.tunnel?.interface ?? ''} restarted`]);
}

function sub(name: string, summary: string, usage: string, run: Command['run']): Command {
  return { name, summary, usage: `mvos net ${usage}`, flags: connection, flagHelp: connectionHelp, json: true, run };
}

// The net verb: the host's networks through its agent.
export const netCommand: Command = {
  name: 'net',
  summary: "a running host's networks: routers, subnets, VMs and their rules",
  usage: 'mvos net <list|rules|status|restart>',
  description:
    "Asks the agent (as `mvos vm` does: its socket, or --host with a login). `mvos vm net NAME` shows one VM's links and counters, `mvos vm rules NAME --set FILE` changes its rules.",
  flags: {},
  flagHelp: {},
  subcommands: [
    sub('list', 'every network with its router, subnet and VMs, and each router', 'list [--json]', list),
    sub('rules', "every VM's rules, or one VM's", 'rules [VM] [--json]', rules),
    sub(
      'status',
      "each VPN network's tunnel: state, endpoint, handshake, bytes, exit address",
      'status [--json]',
      status,
    ),
    sub('restart', "restart a VPN network's tunnel (nothing leaks meanwhile)", 'restart NETWORK [--json]', restart),
  ],
};
