// A router's firewall as data: its plan → one nftables JSON document (`nft -j -f`) that replaces the project's tables
// (`ip mvos`, `arp mvos`) in one transaction. Nothing passes unless a rule here says so: forward and input drop by
// policy; every link is pinned to its VM's address and MAC; VMs reach each other only where a rule of theirs says.
import type { NetLink, NetRule } from '../host-config.ts';
import { ruleText } from '../view-columns.ts';
import { type RouterPlan, UPLINK_IFNAME } from './plan.ts';

type Expr = Record<string, unknown>;
type Command = Record<string, unknown>;

// The name of the project's tables, in the ip and arp families.
export const TABLE = 'mvos';

// A compiled ruleset: the document, how many rules it holds (what the router reads back) and the DNS-name sets dnsmasq
// fills.
export interface CompiledRuleset {
  json: { nftables: Command[] };
  rules: number;
  nameSets: Array<{ set: string; name: string }>;
}

const match = (left: Expr, right: unknown, op = '=='): Expr => ({ match: { op, left, right } });
const meta = (key: string): Expr => ({ meta: { key } });
const payload = (protocol: string, field: string): Expr => ({ payload: { protocol, field } });
const iif = (name: string): Expr => match(meta('iifname'), name);
const accept: Expr = { accept: null };
const drop: Expr = { drop: null };

function prefix(cidr: string): Expr {
  const [addr, len] = cidr.split('/');
  return len === undefined || len === '32' ? { addr } : { prefix: { addr, len: Number(len) } };
}

function address(cidr: string): unknown {
  const p = prefix(cidr);
  return 'addr' in p && Object.keys(p).length === 1 ? p.addr : p;
}

// A refusal the sender hears at once: a TCP reset, or ICMP port unreachable.
function refuse(proto: NetRule['proto']): Expr {
  return proto === 'tcp' ? { reject: { type: 'tcp reset' } } : { reject: { type: 'icmp', expr: 'port-unreachable' } };
}

class Builder {
  readonly commands: Command[] = [];
  rules = 0;

  constructor(private readonly family: 'ip' | 'arp') {}

  table(): void {
    const table = { family: this.family, name: TABLE };
    // add + delete + add: the old table goes, whatever it held, in the same transaction that builds the new one.
    this.commands.push({ add: { table } }, { delete: { table } }, { add: { table } });
  }

  chain(name: string, hook?: { type: string; hook: string; prio: number; policy: 'accept' | 'drop' }): void {
    this.commands.push({ add: { chain: { family: this.family, table: TABLE, name, ...hook } } });
  }

  rule(chain: string, expr: Expr[], comment?: string): void {
    this.rules++;
    const rule = { family: this.family, table: TABLE, chain, expr, ...(comment ? { comment } : {}) };
    this.commands.push({ add: { rule } });
  }

  set(name: string, comment: string): void {
    this.commands.push({ add: { set: { family: this.family, table: TABLE, name, type: 'ipv4_addr', comment } } });
  }
}

// The VM-side match of a rule's destination and ports; undefined for a VM destination the router cannot reach.
function ruleMatch(rule: NetRule, plan: RouterPlan, sets: Map<string, string>): Expr[] | undefined {
  const expr: Expr[] = [];
  const to = rule.to;
  if (to && 'cidr' in to) expr.push(match(payload('ip', 'daddr'), address(to.cidr)));
  if (to && 'name' in to) expr.push(match(payload('ip', 'daddr'), `@${sets.get(to.name)}`));
  if (to && 'vm' in to) {
    const addresses = plan.links.filter((l) => l.vm === to.vm).map((l) => l.address);
    if (addresses.length === 0) return undefined;
    expr.push(match(payload('ip', 'daddr'), addresses.length === 1 ? addresses[0] : { set: addresses }));
  }
  if (rule.proto === 'icmp') expr.push(match(payload('ip', 'protocol'), 'icmp'));
  if ((rule.proto === 'tcp' || rule.proto === 'udp') && !rule.ports)
    expr.push(match(payload('ip', 'protocol'), rule.proto));
  if ((rule.proto === 'tcp' || rule.proto === 'udp') && rule.ports) {
    const [from, through] = rule.ports;
    expr.push(match(payload(rule.proto, 'dport'), from === through ? from : { range: [from, through] }));
  }
  return expr;
}

function linkChain(ip: Builder, plan: RouterPlan, link: NetLink, sets: Map<string, string>): void {
  const chain = `from_${link.ifname}`;
  ip.chain(chain);
  const network = plan.networks.find((n) => n.name === link.network)!;
  for (const rule of link.rules) {
    const expr = ruleMatch(rule, plan, sets);
    if (!expr) continue;
    ip.rule(chain, [...expr, rule.action === 'allow' ? accept : refuse(rule.proto)], `${link.vm}: ${ruleText(rule)}`);
  }
  // VMs do not see each other: anything else to a served subnet is dropped silently.
  for (const served of plan.networks)
    ip.rule(chain, [match(payload('ip', 'daddr'), prefix(served.subnet)), drop], `${link.vm}: no other VM`);
  const out = network.outbound === 'allow' ? accept : { reject: { type: 'icmp', expr: 'admin-prohibited' } };
  ip.rule(chain, [match(meta('oifname'), UPLINK_IFNAME), out], `${link.vm}: outbound ${network.outbound}`);
}

// Compiles one router's plan into its ruleset.
export function compileRuleset(plan: RouterPlan): CompiledRuleset {
  const ip = new Builder('ip');
  const arp = new Builder('arp');
  const sets = new Map<string, string>();
  for (const link of plan.links)
    for (const rule of link.rules)
      if (rule.to && 'name' in rule.to && !sets.has(rule.to.name)) sets.set(rule.to.name, `dns_${sets.size}`);

  ip.table();
  for (const [name, set] of sets) ip.set(set, name);

  ip.chain('spoof', { type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' });
  for (const link of plan.links) {
    const on = iif(link.ifname);
    ip.rule('spoof', [on, match(payload('ether', 'saddr'), link.mac, '!='), drop], `${link.vm}: its own MAC only`);
    ip.rule(
      'spoof',
      [
        on,
        match(payload('ip', 'saddr'), '0.0.0.0'),
        match(payload('udp', 'sport'), 68),
        match(payload('udp', 'dport'), 67),
        accept,
      ],
      `${link.vm}: DHCP before it has an address`,
    );
    ip.rule('spoof', [on, match(payload('ip', 'saddr'), link.address, '!='), drop], `${link.vm}: its own address only`);
  }
  for (const network of plan.networks)
    ip.rule(
      'spoof',
      [iif(UPLINK_IFNAME), match(payload('ip', 'saddr'), prefix(network.subnet)), drop],
      `uplink: no packet from inside ${network.name}`,
    );
  const known = ['lo', UPLINK_IFNAME, ...plan.links.map((l) => l.ifname)];
  ip.rule('spoof', [match(meta('iifname'), { set: known }, '!='), drop], 'no interface the plan does not name');

  ip.chain('input', { type: 'filter', hook: 'input', prio: 0, policy: 'drop' });
  ip.rule('input', [match({ ct: { key: 'state' } }, ['established', 'related'], 'in'), accept]);
  ip.rule('input', [iif('lo'), accept]);
  for (const link of plan.links) {
    const network = plan.networks.find((n) => n.name === link.network)!;
    const on = iif(link.ifname);
    if (network.dhcp) ip.rule('input', [on, match(payload('udp', 'dport'), 67), accept], `${link.vm}: DHCP`);
    if (network.dns) {
      ip.rule('input', [on, match(payload('udp', 'dport'), 53), accept], `${link.vm}: DNS`);
      ip.rule('input', [on, match(payload('tcp', 'dport'), 53), accept], `${link.vm}: DNS`);
    }
    ip.rule('input', [on, match(payload('icmp', 'type'), 'echo-request'), accept], `${link.vm}: ping the gateway`);
  }

  ip.chain('forward', { type: 'filter', hook: 'forward', prio: 0, policy: 'drop' });
  ip.rule('forward', [match({ ct: { key: 'state' } }, 'invalid', 'in'), drop]);
  ip.rule('forward', [match({ ct: { key: 'state' } }, ['established', 'related'], 'in'), accept]);
  ip.rule('forward', [iif(UPLINK_IFNAME), match({ ct: { key: 'status' } }, 'dnat', 'in'), accept], 'port forwards');
  for (const link of plan.links) linkChain(ip, plan, link, sets);
  for (const link of plan.links) ip.rule('forward', [iif(link.ifname), { jump: { target: `from_${link.ifname}` } }]);

  ip.chain('prerouting_nat', { type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' });
  for (const link of plan.links)
    for (const forward of link.forwards)
      ip.rule(
        'prerouting_nat',
        [
          iif(UPLINK_IFNAME),
          match(payload(forward.proto, 'dport'), forward.port),
          { dnat: { addr: link.address, port: forward.to } },
        ],
        `${link.vm}: ${forward.proto} ${forward.port} → ${forward.to}`,
      );
  ip.chain('postrouting_nat', { type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' });
  ip.rule('postrouting_nat', [match(meta('oifname'), UPLINK_IFNAME), { masquerade: null }]);

  arp.table();
  arp.chain('input', { type: 'filter', hook: 'input', prio: 0, policy: 'accept' });
  for (const link of plan.links) {
    const on = iif(link.ifname);
    arp.rule('input', [on, match(payload('arp', 'saddr ether'), link.mac, '!='), drop], `${link.vm}: its own MAC only`);
    arp.rule(
      'input',
      [on, match(payload('arp', 'saddr ip'), { set: ['0.0.0.0', link.address] }, '!='), drop],
      `${link.vm}: its own address only`,
    );
  }

  return {
    json: { nftables: [{ metainfo: { json_schema_version: 1 } }, ...ip.commands, ...arp.commands] },
    rules: ip.rules + arp.rules,
    nameSets: [...sets].map(([name, set]) => ({ set, name })),
  };
}
