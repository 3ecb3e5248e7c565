// A router's firewall as data: its plan → one nftables JSON document (`nft -j -f`) that replaces the project's tables
// (`ip mvos`, `arp mvos`) in one transaction. Nothing passes unless a rule here says so: forward and input drop by
// policy; every link is pinned to its VM's address and MAC; VMs reach each other only where a rule of theirs says. A
// VPN network's links lead only to its tunnel, and a router that holds tunnels drops its own packets too unless they
// are the tunnels' (the kill switch: static, never changed when a tunnel comes or goes).
import type { NetLink, NetRule, NetVpn } from '../host-config.ts';
import { ruleText } from '../view-columns.ts';
import { EGRESS_IFNAME, EGRESS_LINK_HOST, EGRESS_UID, egressRelayPort } from './egress-link.ts';
import { ONION_AGENT_ADDRESS, ONION_IFNAME, ONION_PORTS } from './onion-link.ts';
import { linksWhere, networkOf, type RouterPlan, UPLINK_IFNAME } from './plan.ts';

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

  set(name: string, comment: string, type: string | string[] = 'ipv4_addr', elem?: unknown[]): void {
    const set = {
      family: this.family,
      table: TABLE,
      name,
      type,
      comment,
      ...(elem && elem.length > 0 ? { elem } : {}),
    };
    this.commands.push({ add: { set } });
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
  const network = networkOf(plan, link);
  for (const rule of link.rules) {
    const expr = ruleMatch(rule, plan, sets);
    if (!expr) continue;
    ip.rule(chain, [...expr, rule.action === 'allow' ? accept : refuse(rule.proto)], `${link.vm}: ${ruleText(rule)}`);
  }
  // VMs do not see each other: anything else to a served subnet is dropped silently.
  for (const served of plan.networks)
    ip.rule(chain, [match(payload('ip', 'daddr'), prefix(served.subnet)), drop], `${link.vm}: no other VM`);
  const out = network.outbound === 'allow' ? accept : { reject: { type: 'icmp', expr: 'admin-prohibited' } };
  // A VPN network's only way out is its tunnel; there is no rule for the uplink, so the chain's policy drops it.
  const way = network.vpn?.ifname ?? UPLINK_IFNAME;
  const via = network.vpn ? ` through ${way} only` : '';
  ip.rule(chain, [match(meta('oifname'), way), out], `${link.vm}: outbound ${network.outbound}${via}`);
}

// The router's own packets, for a router that holds tunnels, runs Tor or relays the host's connections: they may go to
// its links and tunnels; to the uplink only the tunnels' own packets to their pinned endpoints, Tor's, the relays' to
// their brokers, its DHCP, and DNS where a plain network needs the uplink's servers (or once, to resolve an endpoint's
// name before any link is up).
function outputChain(ip: Builder, plan: RouterPlan): void {
  ip.chain('output', { type: 'filter', hook: 'output', prio: 0, policy: 'drop' });
  const vpn = tunnels(plan);
  const inside = ['lo', ...plan.links.map((l) => l.ifname), ...vpn.map((t) => t.ifname)];
  ip.rule('output', [match(meta('oifname'), { set: inside }), accept], 'links, tunnels and loopback');
  const up = match(meta('oifname'), UPLINK_IFNAME);
  ip.rule('output', [up, match(payload('udp', 'sport'), 68), match(payload('udp', 'dport'), 67), accept], 'DHCP');
  if (vpn.length > 0) {
    const peer = { concat: [payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport')] };
    ip.rule('output', [up, match(peer, '@tunnel_peers'), accept], 'tunnels to their endpoints');
  }
  // Tor's own connections (it runs as its own user): the only ones a Tor network's traffic becomes.
  if (plan.networks.some((n) => n.tor) || plan.router.onion)
    ip.rule('output', [up, match(meta('skuid'), TOR_UID), accept], 'Tor');
  // The onion service's streams to the agent's doors: Tor's alone (the doors bound how many are open).
  if (plan.router.onion)
    ip.rule(
      'output',
      [
        match(meta('oifname'), ONION_IFNAME),
        match(meta('skuid'), TOR_UID),
        match(payload('ip', 'daddr'), ONION_AGENT_ADDRESS),
        match(payload('tcp', 'dport'), { set: Object.values(ONION_PORTS) }),
        accept,
      ],
      "the onion service to the agent's doors",
    );
  egressOutput(ip, plan);
  for (const proto of ['udp', 'tcp']) {
    const dns = [up, match(payload(proto, 'dport'), 53)];
    if (vpn.length > 0)
      ip.rule('output', [...dns, match(payload('ip', 'daddr'), '@resolvers'), accept], 'resolving an endpoint, once');
    if (plan.networks.some((n) => n.dns && !n.vpn && !n.tor))
      ip.rule('output', [...dns, accept], 'DNS for the networks without a tunnel');
  }
}

// The relays of the host's own connections (they run as their own user): answers to the host on the egress link, and
// out through the uplink only to their destinations' ports, with DNS where a destination is a name.
function egressOutput(ip: Builder, plan: RouterPlan): void {
  const { egress } = plan.router;
  if (!egress) return;
  const relay = match(meta('skuid'), EGRESS_UID);
  ip.rule(
    'output',
    [match(meta('oifname'), EGRESS_IFNAME), match(payload('ip', 'daddr'), EGRESS_LINK_HOST), relay, accept],
    "the relays' answers to the host",
  );
  const up = match(meta('oifname'), UPLINK_IFNAME);
  const ports = [...new Set(egress.targets.map((t) => t.port))];
  ip.rule(
    'output',
    [up, relay, match(payload('tcp', 'dport'), { set: ports }), accept],
    'the relays to their destinations',
  );
  if (egress.targets.some((t) => !/^\d+\.\d+\.\d+\.\d+$/.test(t.host)))
    for (const proto of ['udp', 'tcp'])
      ip.rule('output', [up, relay, match(payload(proto, 'dport'), 53), accept], "the relays' destinations' names");
}

// The user Tor runs as in a Tor gateway (rootfs/tor-gateway/overlay/etc/passwd).
export const TOR_UID = 101;

// The tunnels of a router's plan, in network order.
export function tunnels(plan: RouterPlan): NetVpn[] {
  return plan.networks.flatMap((n) => (n.vpn ? [n.vpn] : []));
}

// The tunnels' endpoints given as addresses, as set elements (named ones are added by the router once it resolved them).
function peerElements(plan: RouterPlan): unknown[] {
  const ipv4 = /^\d+\.\d+\.\d+\.\d+$/;
  const seen = new Set<string>();
  const elements: unknown[] = [];
  for (const tunnel of tunnels(plan))
    for (const e of tunnel.endpoints) {
      const key = `${e.host}/${e.proto}/${e.port}`;
      if (!ipv4.test(e.host) || seen.has(key)) continue;
      seen.add(key);
      elements.push({ concat: [e.host, e.proto, e.port] });
    }
  return elements;
}

// Compiles one router's plan into its ruleset.
export function compileRuleset(plan: RouterPlan): CompiledRuleset {
  const ip = new Builder('ip');
  const arp = new Builder('arp');
  const sets = new Map<string, string>();
  for (const link of plan.links)
    for (const rule of link.rules)
      if (rule.to && 'name' in rule.to && !sets.has(rule.to.name)) sets.set(rule.to.name, `dns_${sets.size}`);

  const vpn = tunnels(plan);
  ip.table();
  for (const [name, set] of sets) ip.set(set, name);
  if (vpn.length > 0) {
    ip.set('tunnel_peers', 'tunnel endpoints', ['ipv4_addr', 'inet_proto', 'inet_service'], peerElements(plan));
    ip.set('resolvers', 'DNS servers the router asks while it resolves an endpoint');
  }

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
  for (const tunnel of vpn)
    for (const network of plan.networks)
      ip.rule(
        'spoof',
        [iif(tunnel.ifname), match(payload('ip', 'saddr'), prefix(network.subnet)), drop],
        `${tunnel.ifname}: no packet from inside ${network.name}`,
      );
  // The onion link carries only the agent's answers to Tor's streams (accepted as established in input).
  if (plan.router.onion)
    ip.rule(
      'spoof',
      [iif(ONION_IFNAME), match(payload('ip', 'saddr'), ONION_AGENT_ADDRESS, '!='), drop],
      'onion link: the agent only',
    );
  // The egress link carries only QEMU's forwards from the host's loopback.
  if (plan.router.egress)
    ip.rule(
      'spoof',
      [iif(EGRESS_IFNAME), match(payload('ip', 'saddr'), EGRESS_LINK_HOST, '!='), drop],
      'egress link: the host only',
    );
  const known = [
    'lo',
    UPLINK_IFNAME,
    ...plan.links.map((l) => l.ifname),
    ...vpn.map((t) => t.ifname),
    ...(plan.router.onion ? [ONION_IFNAME] : []),
    ...(plan.router.egress ? [EGRESS_IFNAME] : []),
  ];
  ip.rule('spoof', [match(meta('iifname'), { set: known }, '!='), drop], 'no interface the plan does not name');

  ip.chain('input', { type: 'filter', hook: 'input', prio: 0, policy: 'drop' });
  ip.rule('input', [match({ ct: { key: 'state' } }, ['established', 'related'], 'in'), accept]);
  ip.rule('input', [iif('lo'), accept]);
  for (const link of plan.links) {
    const network = networkOf(plan, link);
    const on = iif(link.ifname);
    if (network.dhcp) ip.rule('input', [on, match(payload('udp', 'dport'), 67), accept], `${link.vm}: DHCP`);
    // A Tor network's VMs reach Tor's TransPort and DNSPort (where their TCP and DNS are redirected), nothing else.
    if (network.tor) {
      ip.rule('input', [on, match(payload('tcp', 'dport'), network.tor.transPort), accept], `${link.vm}: Tor`);
      ip.rule('input', [on, match(payload('udp', 'dport'), network.tor.dnsPort), accept], `${link.vm}: Tor's DNS`);
    }
    // A VPN network's VMs resolve through the tunnel: the router's DNS does not answer them.
    if (network.dns && !network.vpn && !network.tor) {
      ip.rule('input', [on, match(payload('udp', 'dport'), 53), accept], `${link.vm}: DNS`);
      ip.rule('input', [on, match(payload('tcp', 'dport'), 53), accept], `${link.vm}: DNS`);
    }
    ip.rule('input', [on, match(payload('icmp', 'type'), 'echo-request'), accept], `${link.vm}: ping the gateway`);
  }

  // The host's own connections reach their relays, and nothing else of the router; nothing from that link is forwarded.
  const { egress } = plan.router;
  if (egress)
    ip.rule(
      'input',
      [
        iif(EGRESS_IFNAME),
        match(payload('tcp', 'dport'), { set: egress.targets.map((_, i) => egressRelayPort(i)) }),
        accept,
      ],
      "the host's connections to their relays",
    );

  ip.chain('forward', { type: 'filter', hook: 'forward', prio: 0, policy: 'drop' });
  // The kill switch comes before connection tracking: not even a flow that was established through a tunnel may go on
  // through the uplink, whatever the routes say while a tunnel is down.
  const tunnelled = linksWhere(plan, (n) => n.vpn);
  if (tunnelled.length > 0) {
    const links = { set: tunnelled.map((l) => l.ifname) };
    ip.rule('forward', [match(meta('iifname'), links), match(meta('oifname'), UPLINK_IFNAME), drop], 'kill switch');
    ip.rule('forward', [iif(UPLINK_IFNAME), match(meta('oifname'), links), drop], 'kill switch');
  }
  const onion = linksWhere(plan, (n) => n.tor);
  if (onion.length > 0) {
    const links = { set: onion.map((l) => l.ifname) };
    ip.rule('forward', [match(meta('iifname'), links), drop], 'Tor: nothing is forwarded');
    ip.rule('forward', [match(meta('oifname'), links), drop], 'Tor: nothing is forwarded');
  }
  ip.rule('forward', [match({ ct: { key: 'state' } }, 'invalid', 'in'), drop]);
  ip.rule('forward', [match({ ct: { key: 'state' } }, ['established', 'related'], 'in'), accept]);
  ip.rule('forward', [iif(UPLINK_IFNAME), match({ ct: { key: 'status' } }, 'dnat', 'in'), accept], 'port forwards');
  const forwarded = plan.links.filter((l) => !onion.includes(l));
  for (const link of forwarded) linkChain(ip, plan, link, sets);
  for (const link of forwarded) ip.rule('forward', [iif(link.ifname), { jump: { target: `from_${link.ifname}` } }]);

  ip.chain('prerouting_nat', { type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' });
  for (const link of onion) {
    const tor = networkOf(plan, link).tor!;
    const on = iif(link.ifname);
    ip.rule(
      'prerouting_nat',
      [on, match(payload('udp', 'dport'), 53), { redirect: { port: tor.dnsPort } }],
      `${link.vm}: DNS to Tor`,
    );
    ip.rule(
      'prerouting_nat',
      [on, match(meta('l4proto'), 'tcp'), { redirect: { port: tor.transPort } }],
      `${link.vm}: TCP to Tor`,
    );
  }
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
  for (const tunnel of vpn) ip.rule('postrouting_nat', [match(meta('oifname'), tunnel.ifname), { masquerade: null }]);
  // A router that holds tunnels, runs Tor or relays the host's own connections filters its own output too.
  if (vpn.length > 0 || onion.length > 0 || plan.router.onion || plan.router.egress) outputChain(ip, plan);

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
