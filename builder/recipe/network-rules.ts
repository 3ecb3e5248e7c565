// Rules for networks: every name a network, a VM or a rule uses exists; routers have an uplink; subnets are aligned,
// apart and big enough; rules and forwards make sense. Each mistake is reported at the line that made it.
import type { Problem } from '../../common/errors.ts';
import { ipv4ToNumber } from '../../common/net/plan.ts';
import { closest } from './messages.ts';
import type { RuleContext } from './rules.ts';
import type { NetRule, Network, VmUplink } from './schema.types.ts';
import { locate } from './yaml-source.ts';

// The most links (VM NICs on its PCI root bus) one router VM serves.
export const MAX_ROUTER_LINKS = 24;

// The most VPN tunnels one router VM holds (each has its own routing table).
export const MAX_ROUTER_TUNNELS = 4;

interface NetVm {
  launch?: string;
  networks?: string[];
  rules?: NetRule[];
  forwards?: Array<{ proto?: string; port: number; to?: number }>;
  uplink?: VmUplink;
}

// A parsed CIDR: its first address, prefix length and size; undefined when an octet is out of range.
export function parseCidr(cidr: string): { base: number; prefix: number; size: number } | undefined {
  const [address, length] = cidr.split('/');
  if (!address || address.split('.').some((octet) => Number(octet) > 255)) return undefined;
  const prefix = length === undefined ? 32 : Number(length);
  if (prefix > 32) return undefined;
  return { base: ipv4ToNumber(address), prefix, size: 2 ** (32 - prefix) };
}

class Report {
  readonly problems: Problem[] = [];
  constructor(private readonly ctx: RuleContext) {}
  add(path: string, message: string, hint?: string): void {
    this.problems.push({ location: locate(this.ctx.locations, path), path, message, ...(hint ? { hint } : {}) });
  }
}

function checkSubnets(report: Report, networks: Array<[string, Network]>, members: Map<string, number>): void {
  const seen: Array<{ name: string; base: number; size: number }> = [];
  for (const [name, network] of networks) {
    const path = `/networks/${name}/subnet`;
    const cidr = parseCidr(network.subnet);
    if (!cidr) {
      report.add(path, `${network.subnet} is not an IPv4 subnet`, 'each part of the address is 0 to 255');
      continue;
    }
    if (cidr.base % cidr.size !== 0) {
      const [address] = network.subnet.split('/');
      const aligned = cidr.base - (cidr.base % cidr.size);
      const text = [24, 16, 8, 0].map((s) => Math.floor(aligned / 2 ** s) % 256).join('.');
      report.add(path, `${address} is not the first address of a /${cidr.prefix}`, `write ${text}/${cidr.prefix}`);
      continue;
    }
    const overlap = seen.find((o) => cidr.base < o.base + o.size && o.base < cidr.base + cidr.size);
    if (overlap)
      report.add(path, `${network.subnet} overlaps network "${overlap.name}"`, 'give each network its own subnet');
    seen.push({ name, base: cidr.base, size: cidr.size });
    // The network's own address, the router's and the broadcast address are not for VMs.
    const room = cidr.size - 3;
    const count = members.get(name) ?? 0;
    if (count > room)
      report.add(
        path,
        `${network.subnet} has room for ${room} VMs, but ${count} join "${name}"`,
        'use a shorter prefix',
      );
  }
}

function checkUplink(report: Report, name: string, uplink: VmUplink): void {
  const base = `/vms/${name}/uplink`;
  const kinds = [uplink.tap, uplink.pci, uplink.network].filter((k) => k !== undefined).length;
  if (kinds !== 1)
    report.add(
      base,
      "an uplink is one of `pci` (NICs passed to the router), `tap` or `network` (another router's network)",
      'e.g. `uplink: { pci: [0000:03:00.0] }`',
    );
  if (uplink.network !== undefined && uplink.address !== undefined)
    report.add(
      `${base}/address`,
      "a chained uplink gets its address from its router's DHCP",
      'drop `address`, `gateway` and `dns`',
    );
  if (uplink.netns !== undefined && uplink.tap === undefined)
    report.add(`${base}/netns`, 'netns belongs to a tap uplink', 'drop it, or use `tap:`');
  if (uplink.address !== undefined && uplink.gateway === undefined)
    report.add(
      `${base}/address`,
      'a static address needs a `gateway`',
      'add `gateway: <address>`, or drop `address` for DHCP',
    );
  if (uplink.address === undefined && (uplink.gateway !== undefined || uplink.dns !== undefined))
    report.add(
      `${base}/${uplink.gateway !== undefined ? 'gateway' : 'dns'}`,
      'gateway and dns come with a static `address`',
      'with DHCP they come from the lease',
    );
}

function checkRule(
  report: Report,
  path: string,
  rule: NetRule,
  name: string,
  reachable: Set<string>,
  vmNames: string[],
): void {
  if (rule.vm !== undefined && rule.to !== undefined)
    report.add(path, 'a rule goes either `to` an address or name, or to a `vm`', 'write two rules');
  if (rule.vm !== undefined) {
    if (!vmNames.includes(rule.vm)) {
      const guess = closest(rule.vm, vmNames);
      report.add(
        `${path}/vm`,
        `names VM "${rule.vm}", which is not defined`,
        guess ? `did you mean "${guess}"?` : undefined,
      );
    } else if (rule.vm === name) report.add(`${path}/vm`, 'a rule cannot name its own VM');
    else if (!reachable.has(rule.vm))
      report.add(`${path}/vm`, `VM "${rule.vm}" shares no router with this VM`, 'join a network of the same router');
  }
  if (rule.to !== undefined && /^[\d./]+$/.test(rule.to)) {
    const cidr = parseCidr(rule.to);
    if (!cidr) report.add(`${path}/to`, `${rule.to} is not an IPv4 address or CIDR`);
    else if (cidr.base % cidr.size !== 0)
      report.add(`${path}/to`, `${rule.to} is not the first address of a /${cidr.prefix}`);
  }
  if (rule.port !== undefined) {
    const proto = rule.proto ?? 'any';
    if (proto !== 'tcp' && proto !== 'udp')
      report.add(`${path}/port`, `a port needs proto tcp or udp (this rule is ${proto})`, 'add `proto: tcp`');
    if (typeof rule.port === 'string') {
      const [from, through] = rule.port.split('-').map(Number) as [number, number];
      if (from < 1 || through > 65535 || from > through)
        report.add(`${path}/port`, `${rule.port} is not a port range`, 'two ports from 1 to 65535, the lower first');
    }
  }
}

// A gateway chained behind another router: its uplink network exists, is another router's, and following uplinks from
// it reaches a router with a tap or NICs (no cycle).
function checkChained(
  report: Report,
  name: string,
  through: string,
  networkNames: string[],
  routerOf: Map<string, string>,
  vms: Array<[string, NetVm]>,
): void {
  const path = `/vms/${name}/uplink/network`;
  if (!networkNames.includes(through)) {
    const guess = closest(through, networkNames);
    report.add(path, `network "${through}" is not defined`, guess ? `did you mean "${guess}"?` : undefined);
    return;
  }
  const seen = new Set([name]);
  for (let router = routerOf.get(through); router !== undefined; ) {
    if (seen.has(router)) {
      report.add(
        path,
        `uplinks go round in a circle: ${[...seen, router].join(' → ')}`,
        'one router needs a tap or NICs',
      );
      return;
    }
    seen.add(router);
    const next = vms.find(([vm]) => vm === router)?.[1].uplink?.network;
    router = next === undefined ? undefined : routerOf.get(next);
  }
}

// What a VM on a Tor network cannot have: Tor carries its TCP connections, nothing else leaves, so there is nothing for
// rules or port forwards to say.
function checkTorMember(report: Report, base: string, vm: NetVm, network: string): void {
  if ((vm.forwards?.length ?? 0) > 0)
    report.add(`${base}/forwards`, `a VM on Tor network "${network}" takes no port forwards`, 'drop the forwards');
  if ((vm.rules?.length ?? 0) > 0)
    report.add(
      `${base}/rules`,
      `a VM on Tor network "${network}" has no rules: Tor carries its TCP, everything else is dropped`,
      'drop the rules, or put the VM on another network',
    );
}

// What a VM on a VPN network cannot have: a port forward from the uplink (its traffic leaves and returns only
// through the tunnel), or a rule by DNS name (the router's DNS, which fills those sets, does not serve VPN networks:
// their VMs resolve through the tunnel).
function checkVpnMember(report: Report, base: string, vm: NetVm, network: string): void {
  if ((vm.forwards?.length ?? 0) > 0)
    report.add(
      `${base}/forwards`,
      `a VM on VPN network "${network}" takes no port forwards from the uplink: its traffic stays in the tunnel`,
      'drop the forwards, or put the VM on a network without `via`',
    );
  (vm.rules ?? []).forEach((rule, i) => {
    if (rule.to !== undefined && !/^[\d./]+$/.test(rule.to))
      report.add(
        `${base}/rules/${i}/to`,
        `a rule by DNS name needs the router's DNS, and VPN network "${network}" resolves through its tunnel`,
        'write the address or CIDR',
      );
  });
}

// A VM the host's own connections go through (the onion's gateway, the fleet's router): defined, with an uplink, and
// a full VM.
function checkWayOut(
  report: Report,
  vms: Array<[string, NetVm]>,
  path: string,
  name: string,
  words: { verb: string; recipe: string; reach: string; kind: string },
): void {
  const vm = vms.find(([n]) => n === name)?.[1];
  if (!vm) {
    const guess = closest(
      name,
      vms.map(([n]) => n),
    );
    report.add(
      path,
      `${words.verb} VM "${name}", which is not defined`,
      guess ? `did you mean "${guess}"?` : `add vms.${name} with \`recipe: ${words.recipe}\` and an uplink`,
    );
  } else if (!vm.uplink)
    report.add(path, `VM "${name}" has no uplink to reach ${words.reach} through`, `add \`uplink:\` to vms.${name}`);
  else if (vm.launch === 'novm' || vm.launch === 'container')
    report.add(path, `VM "${name}" is launched as ${vm.launch}; a ${words.kind} is a full VM`);
}

// agent.onion: its gateway is a router VM of this host, and the host has socat to join the gateway to the agent.
function checkOnion(report: Report, ctx: RuleContext, vms: Array<[string, NetVm]>): void {
  const onion = ctx.raw.agent?.onion;
  if (!onion || !ctx.sound('/agent/onion')) return;
  checkWayOut(report, vms, '/agent/onion/gateway', onion.gateway, {
    verb: 'publishes through',
    recipe: 'tor-gateway.yaml',
    reach: 'Tor',
    kind: 'gateway',
  });
  if (!(ctx.raw.packages ?? []).includes('socat'))
    report.add(
      '/agent/onion',
      "the host needs socat to join the gateway's forwarded connections to the agent",
      'add socat to the host recipe packages',
    );
}

// Whether a broker URL's host is this machine's loopback (the only place plain nats:// is allowed).
function loopbackBroker(url: string): boolean {
  const host = url.replace(/^\w+:\/\//, '').replace(/:\d+$/, '');
  return host === 'localhost' || /^127\./.test(host);
}

// agent.fleet: at most 16 brokers, TLS to any off the host, and its way out a router VM of this host with an uplink.
function checkFleet(report: Report, ctx: RuleContext, vms: Array<[string, NetVm]>): void {
  const fleet = ctx.raw.agent?.fleet;
  if (!fleet || !ctx.sound('/agent/fleet')) return;
  if (fleet.servers.length > 16)
    report.add('/agent/fleet/servers', `names ${fleet.servers.length} brokers; at most 16`);
  fleet.servers.forEach((url, i) => {
    if (url.startsWith('nats://') && !loopbackBroker(url))
      report.add(
        `/agent/fleet/servers/${i}`,
        `${url} is off this host, and its credentials and commands would cross the network in the clear`,
        `write ${url.replace(/^nats:/, 'tls:')} (the broker's CA goes in the key folder as fleet/ca.crt)`,
      );
  });
  if (fleet.via === undefined) {
    if (fleet.servers.some((url) => !loopbackBroker(url)) && vms.some(([, vm]) => vm.uplink))
      report.add(
        '/agent/fleet',
        'the host has no network of its own, so it cannot reach the brokers by itself',
        'name the router its connections go out through: `via: <router VM>`',
      );
    return;
  }
  checkWayOut(report, vms, '/agent/fleet/via', fleet.via, {
    verb: 'goes out through',
    recipe: 'router.yaml',
    reach: 'the brokers',
    kind: 'router',
  });
}

// The network rules of a host recipe (a guest recipe may not declare networks at all).
export function checkNetworkRules(ctx: RuleContext): Problem[] {
  const report = new Report(ctx);
  const { raw } = ctx;
  if (raw.networks && Object.keys(raw.networks).length > 0 && raw.kind === 'guest' && ctx.sound('/kind')) {
    report.add('/networks', 'a guest recipe cannot declare networks', 'networks belong in the host recipe');
    return report.problems;
  }
  if (!ctx.usable('/vms') || !ctx.usable('/networks')) return report.problems;
  const vms = Object.entries(raw.vms ?? {}).filter(([, vm]) => vm) as Array<[string, NetVm]>;
  const vmNames = vms.map(([name]) => name);
  const networks = Object.entries(raw.networks ?? {}).filter(([, n]) => n) as Array<[string, Network]>;
  const networkNames = networks.map(([name]) => name);
  const routerOf = new Map(networks.map(([name, n]) => [name, n.router]));
  const routers = new Set<string>();

  for (const [name, network] of networks) {
    if (!ctx.sound(`/networks/${name}`)) continue;
    const path = `/networks/${name}/router`;
    const router = vms.find(([vm]) => vm === network.router)?.[1];
    if (!router) {
      const guess = closest(network.router, vmNames);
      report.add(
        path,
        `routes through VM "${network.router}", which is not defined`,
        guess ? `did you mean "${guess}"?` : `add vms.${network.router} with \`recipe: router.yaml\` and an uplink`,
      );
    } else if (!router.uplink)
      report.add(path, `VM "${network.router}" has no uplink`, `add \`uplink:\` to vms.${network.router}`);
    else routers.add(network.router);
  }

  const members = new Map<string, number>();
  for (const [name, vm] of vms) {
    const base = `/vms/${name}`;
    if (!ctx.sound(base)) continue;
    if (vm.uplink) {
      if (!networks.some(([, n]) => n.router === name))
        report.add(
          `${base}/uplink`,
          `VM "${name}" has an uplink but routes no network`,
          'name it as `router:` of a network, or drop the uplink',
        );
      checkUplink(report, name, vm.uplink);
      const through = vm.uplink.network;
      if (through !== undefined) {
        checkChained(report, name, through, networkNames, routerOf, vms);
        members.set(through, (members.get(through) ?? 0) + 1);
      }
    }
    const joined = vm.networks ?? [];
    joined.forEach((network, i) => {
      const path = `${base}/networks/${i}`;
      if (!networkNames.includes(network)) {
        const guess = closest(network, networkNames);
        report.add(
          path,
          `network "${network}" is not defined`,
          guess ? `did you mean "${guess}"?` : 'declare it under `networks:`',
        );
        return;
      }
      if (routerOf.get(network) === name) report.add(path, `VM "${name}" routes "${network}" and cannot also join it`);
      members.set(network, (members.get(network) ?? 0) + 1);
    });
    if (joined.length > 0 && vm.launch === 'container')
      report.add(
        `${base}/networks`,
        'container VMs cannot join networks yet',
        'run it as `launch: novm` with its own guest recipe',
      );
    if (joined.length === 0 && (vm.rules?.length ?? 0) > 0)
      report.add(`${base}/rules`, 'rules without a network do nothing', 'add `networks: [<name>]`');
    if (joined.length === 0 && (vm.forwards?.length ?? 0) > 0)
      report.add(`${base}/forwards`, 'forwards need the VM on a network', 'add `networks: [<name>]`');
    const myRouters = new Set(joined.map((n) => routerOf.get(n)));
    const reachable = new Set(
      vms
        .filter(([other, o]) => other !== name && (o.networks ?? []).some((n) => myRouters.has(routerOf.get(n))))
        .map(([other]) => other),
    );
    for (const [i, rule] of (vm.rules ?? []).entries())
      checkRule(report, `${base}/rules/${i}`, rule, name, reachable, vmNames);
    const vpn = joined.find((n) => networks.some(([other, o]) => other === n && typeof o.via === 'object'));
    if (vpn) checkVpnMember(report, base, vm, vpn);
    const tor = joined.find((n) => networks.some(([other, o]) => other === n && o.via === 'tor'));
    if (tor) checkTorMember(report, base, vm, tor);
  }

  checkOnion(report, ctx, vms);
  checkFleet(report, ctx, vms);

  for (const router of routers) {
    const tunnels = networks.filter(([, n]) => n.router === router && typeof n.via === 'object');
    if (tunnels.length > MAX_ROUTER_TUNNELS)
      report.add(
        `/networks/${tunnels[MAX_ROUTER_TUNNELS]![0]}/via`,
        `router "${router}" would hold ${tunnels.length} VPN tunnels; one router holds at most ${MAX_ROUTER_TUNNELS}`,
        'give some VPN networks a router VM of their own',
      );
  }

  // Each link is a PCI NIC on the router's root bus, which has room for about thirty devices.
  for (const router of routers) {
    const served = networks.filter(([, n]) => n.router === router).map(([name]) => name);
    const links = served.reduce((sum, name) => sum + (members.get(name) ?? 0), 0);
    if (links > MAX_ROUTER_LINKS)
      report.add(
        `/networks/${served[served.length - 1]}/router`,
        `router "${router}" would serve ${links} VM links; one router serves at most ${MAX_ROUTER_LINKS}`,
        'give some networks a router VM of their own',
      );
  }
  const forwarded = new Map<string, string>();
  for (const [name, vm] of vms) {
    const router = routerOf.get(vm.networks?.[0] ?? '');
    (vm.forwards ?? []).forEach((forward, i) => {
      const key = `${router}/${forward.proto ?? 'tcp'}/${forward.port}`;
      const other = forwarded.get(key);
      if (other)
        report.add(
          `/vms/${name}/forwards/${i}/port`,
          `${forward.proto ?? 'tcp'} port ${forward.port} of router "${router}" is already forwarded to VM "${other}"`,
          'one VM per uplink port',
        );
      else forwarded.set(key, name);
    });
  }
  if (ctx.sound('/networks')) checkSubnets(report, networks, members);
  return report.problems;
}
