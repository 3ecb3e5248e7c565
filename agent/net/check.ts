// host.json's `networks`, checked field by field: every value ends up in QEMU's arguments, the router's shell-read links
// file or dnsmasq's configuration, so each is held to the exact shape it may have (no spaces, commas or newlines).
import type { Problem } from '../../common/errors.ts';
import type {
  NetForward,
  NetLink,
  NetRule,
  NetTor,
  NetVpn,
  NetworkConfig,
  NetworksConfig,
  RouterConfig,
  RouterUplink,
  VpnEndpoint,
} from '../../common/host-config.ts';
import { MAX_EGRESS_TARGETS } from '../../common/net/egress-link.ts';

const NAME = /^[a-z][a-z0-9-]{0,30}$/;
const IFNAME = /^vl\d{1,4}$/;
const MAC = /^02(:[0-9a-f]{2}){5}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const CIDR = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/([0-9]|[12]\d|3[0-2])$/;
const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))+$/;
const HOST = new RegExp(`${IPV4.source}|${DNS_NAME.source}`);
const PCI = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const TAP = /^[a-zA-Z0-9_-]{1,15}$/;
const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const CHECK_URL = /^http:\/\/[0-9]{1,3}(\.[0-9]{1,3}){3}(:[0-9]{1,5})?(\/[A-Za-z0-9._~/?=&%-]*)?$/;
// A DirAuthority line of a private Tor network, without the keyword: nickname, flags, address:dirport, fingerprint.
const DIR_AUTHORITY =
  /^[A-Za-z0-9]{1,19}( (orport=\d{1,5}|no-v2|v3ident=[0-9A-F]{40}))* (\d{1,3}\.){3}\d{1,3}:\d{1,5} ([0-9A-F]{40}|[0-9A-F]{4}( [0-9A-F]{4}){9})$/;
const SEALED = /^v1:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/;

type Json = Record<string, unknown>;

class Check {
  readonly problems: Problem[] = [];

  fail(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }

  object(value: unknown, path: string): Json | undefined {
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Json)
      : this.fail(path, 'must be an object');
  }

  list(value: unknown, path: string): unknown[] {
    if (Array.isArray(value)) return value;
    this.fail(path, 'must be a list');
    return [];
  }

  text(parent: Json, key: string, path: string, shape: RegExp, what: string): string | undefined {
    const value = parent[key];
    return typeof value === 'string' && shape.test(value) ? value : this.fail(`${path}/${key}`, `must be ${what}`);
  }

  port(value: unknown, path: string): number | undefined {
    return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535
      ? (value as number)
      : this.fail(path, 'must be a port (1 to 65535)');
  }

  among<T extends string>(parent: Json, key: string, path: string, allowed: readonly T[]): T | undefined {
    const value = parent[key];
    return allowed.includes(value as T)
      ? (value as T)
      : this.fail(`${path}/${key}`, `must be one of ${allowed.join(', ')}`);
  }

  flag(parent: Json, key: string, path: string): boolean | undefined {
    return typeof parent[key] === 'boolean'
      ? (parent[key] as boolean)
      : this.fail(`${path}/${key}`, 'must be true or false');
  }
}

function rule(c: Check, value: unknown, path: string): NetRule | undefined {
  const r = c.object(value, path);
  if (!r) return undefined;
  const action = c.among(r, 'action', path, ['allow', 'deny'] as const);
  const proto = c.among(r, 'proto', path, ['tcp', 'udp', 'icmp', 'any'] as const);
  let to: NetRule['to'];
  if (r.to !== undefined && r.to !== null) {
    const t = c.object(r.to, `${path}/to`);
    if (t && typeof t.cidr === 'string')
      to = {
        cidr:
          c.text(t, 'cidr', `${path}/to`, new RegExp(`${IPV4.source}|${CIDR.source}`), 'an IPv4 address or CIDR') ?? '',
      };
    else if (t && typeof t.name === 'string')
      to = { name: c.text(t, 'name', `${path}/to`, DNS_NAME, 'a DNS name') ?? '' };
    else if (t && typeof t.vm === 'string') to = { vm: c.text(t, 'vm', `${path}/to`, NAME, 'a VM name') ?? '' };
    else c.fail(`${path}/to`, 'must be { cidr }, { name } or { vm }');
  }
  let ports: [number, number] | undefined;
  if (r.ports !== undefined && r.ports !== null) {
    const p = c.list(r.ports, `${path}/ports`);
    const from = c.port(p[0], `${path}/ports/0`);
    const through = c.port(p[1], `${path}/ports/1`);
    if (p.length !== 2 || from === undefined || through === undefined || from > through)
      c.fail(`${path}/ports`, 'must be [from, through]');
    else ports = [from, through];
    if (proto !== 'tcp' && proto !== 'udp') c.fail(`${path}/ports`, 'ports need proto tcp or udp');
  }
  if (!action || !proto) return undefined;
  return { action, proto, ...(to ? { to } : {}), ...(ports ? { ports } : {}) };
}

function forward(c: Check, value: unknown, path: string): NetForward | undefined {
  const f = c.object(value, path);
  if (!f) return undefined;
  const proto = c.among(f, 'proto', path, ['tcp', 'udp'] as const);
  const port = c.port(f.port, `${path}/port`);
  const to = c.port(f.to, `${path}/to`);
  return proto && port && to ? { proto, port, to } : undefined;
}

function link(c: Check, value: unknown, path: string): NetLink | undefined {
  const l = c.object(value, path);
  if (!l) return undefined;
  const fields = {
    vm: c.text(l, 'vm', path, NAME, 'a VM name'),
    network: c.text(l, 'network', path, NAME, 'a network name'),
    ifname: c.text(l, 'ifname', path, IFNAME, 'an interface name like vl0'),
    address: c.text(l, 'address', path, IPV4, 'an IPv4 address'),
    mac: c.text(l, 'mac', path, MAC, 'a locally administered MAC (02:…)'),
    routerMac: c.text(l, 'routerMac', path, MAC, 'a locally administered MAC (02:…)'),
  };
  const rules = c.list(l.rules ?? [], `${path}/rules`).map((r, i) => rule(c, r, `${path}/rules/${i}`));
  const forwards = c.list(l.forwards ?? [], `${path}/forwards`).map((f, i) => forward(c, f, `${path}/forwards/${i}`));
  if (Object.values(fields).includes(undefined) || rules.includes(undefined) || forwards.includes(undefined))
    return undefined;
  return {
    ...(fields as Omit<NetLink, 'rules' | 'forwards'>),
    rules: rules as NetRule[],
    forwards: forwards as NetForward[],
  };
}

function network(c: Check, value: unknown, path: string): NetworkConfig | undefined {
  const n = c.object(value, path);
  if (!n) return undefined;
  const fields = {
    name: c.text(n, 'name', path, NAME, 'a network name'),
    router: c.text(n, 'router', path, NAME, 'a VM name'),
    subnet: c.text(n, 'subnet', path, CIDR, 'an IPv4 CIDR'),
    gateway: c.text(n, 'gateway', path, IPV4, 'an IPv4 address'),
    prefix:
      Number.isInteger(n.prefix) && (n.prefix as number) >= 8 && (n.prefix as number) <= 30
        ? (n.prefix as number)
        : c.fail(`${path}/prefix`, 'must be 8 to 30'),
    dhcp: c.flag(n, 'dhcp', path),
    dns: c.flag(n, 'dns', path),
    outbound: c.among(n, 'outbound', path, ['allow', 'deny'] as const),
  };
  const tunnel = n.vpn === undefined || n.vpn === null ? null : vpn(c, n.vpn, `${path}/vpn`);
  const onion = n.tor === undefined || n.tor === null ? null : tor(c, n.tor, `${path}/tor`);
  if (Object.values(fields).includes(undefined) || tunnel === undefined || onion === undefined) return undefined;
  if (tunnel && onion) return c.fail(path, 'goes through a VPN or Tor, not both');
  return { ...(fields as NetworkConfig), ...(tunnel ? { vpn: tunnel } : {}), ...(onion ? { tor: onion } : {}) };
}

function tor(c: Check, value: unknown, path: string): NetTor | undefined {
  const t = c.object(value, path);
  if (!t) return undefined;
  const transPort = c.port(t.transPort, `${path}/transPort`);
  const dnsPort = c.port(t.dnsPort, `${path}/dnsPort`);
  const authorities =
    t.testingAuthorities === undefined || t.testingAuthorities === null
      ? undefined
      : listOf(c, t.testingAuthorities, `${path}/testingAuthorities`, DIR_AUTHORITY, 'a DirAuthority line', 9);
  if (!transPort || !dnsPort || transPort === dnsPort) return c.fail(path, 'needs two different ports');
  return { transPort, dnsPort, ...(authorities ? { testingAuthorities: authorities } : {}) };
}

function listOf(c: Check, value: unknown, path: string, shape: RegExp, what: string, most: number): string[] {
  const list = c.list(value ?? [], path);
  if (list.length > most) c.fail(path, `must hold at most ${most}`);
  return list.filter(
    (a, i) => (typeof a === 'string' && shape.test(a)) || c.fail(`${path}/${i}`, `must be ${what}`),
  ) as string[];
}

function endpoint(c: Check, value: unknown, path: string): VpnEndpoint | undefined {
  const e = c.object(value, path);
  if (!e) return undefined;
  const host = c.text(e, 'host', path, new RegExp(`${IPV4.source}|${DNS_NAME.source}`), 'an IPv4 address or DNS name');
  const port = c.port(e.port, `${path}/port`);
  const proto = c.among(e, 'proto', path, ['udp', 'tcp'] as const);
  const peer = e.peer === undefined || e.peer === null ? undefined : c.text(e, 'peer', path, WG_KEY, 'a WireGuard key');
  if (!host || !port || !proto || (e.peer !== undefined && e.peer !== null && !peer)) return undefined;
  return { host, port, proto, ...(peer ? { peer } : {}) };
}

function vpn(c: Check, value: unknown, path: string): NetVpn | undefined {
  const v = c.object(value, path);
  if (!v) return undefined;
  const before = c.problems.length;
  const provider = c.among(v, 'provider', path, ['wireguard', 'openvpn'] as const);
  const ifname = c.text(v, 'ifname', path, /^vpn[0-3]$/, 'a tunnel interface name like vpn0');
  const table =
    Number.isInteger(v.table) && (v.table as number) >= 100 && (v.table as number) <= 103
      ? (v.table as number)
      : c.fail(`${path}/table`, 'must be a routing table from 100 to 103');
  const endpointList = c.list(v.endpoints, `${path}/endpoints`);
  if (endpointList.length < 1 || endpointList.length > 16) c.fail(`${path}/endpoints`, 'must hold 1 to 16 endpoints');
  const endpoints = endpointList.map((e, i) => endpoint(c, e, `${path}/endpoints/${i}`));
  const tunnelAddresses = listOf(c, v.addresses, `${path}/addresses`, CIDR, 'an IPv4 address with prefix', 8);
  const dns = listOf(c, v.dns, `${path}/dns`, IPV4, 'an IPv4 address', 4);
  const mtu =
    v.mtu === undefined || v.mtu === null
      ? undefined
      : Number.isInteger(v.mtu) && (v.mtu as number) >= 576 && (v.mtu as number) <= 9000
        ? (v.mtu as number)
        : c.fail(`${path}/mtu`, 'must be 576 to 9000');
  const check =
    v.check === undefined || v.check === null
      ? undefined
      : c.text(v, 'check', path, CHECK_URL, 'an http URL with an IPv4 host');
  const sealed = c.text(v, 'sealed', path, SEALED, 'a sealed secret (v1:…)');
  if (c.problems.length > before || !provider || !ifname || !table || !sealed) return undefined;
  return {
    provider,
    ifname,
    table,
    endpoints: endpoints as VpnEndpoint[],
    addresses: tunnelAddresses,
    dns,
    ...(mtu ? { mtu } : {}),
    ...(check ? { check } : {}),
    sealed,
  };
}

function uplink(c: Check, value: unknown, path: string): RouterUplink | undefined {
  const u = c.object(value, path);
  if (!u) return undefined;
  const mac = c.text(u, 'mac', path, MAC, 'a locally administered MAC (02:…)');
  let tap: RouterUplink['tap'];
  if (u.tap !== undefined && u.tap !== null) {
    const t = c.object(u.tap, `${path}/tap`);
    const name = t && c.text(t, 'name', `${path}/tap`, TAP, 'an interface name');
    const netns =
      t && t.netns !== undefined && t.netns !== null
        ? c.text(t, 'netns', `${path}/tap`, /^[a-zA-Z0-9_-]{1,64}$/, 'a namespace name')
        : undefined;
    if (name) tap = { name, ...(netns ? { netns } : {}) };
  }
  let pci: string[] | undefined;
  if (u.pci !== undefined && u.pci !== null)
    pci = c
      .list(u.pci, `${path}/pci`)
      .map((p, i) =>
        typeof p === 'string' && PCI.test(p)
          ? p
          : (c.fail(`${path}/pci/${i}`, 'must be a PCI address like 0000:03:00.0') ?? ''),
      );
  const given = (key: string) => u[key] !== undefined && u[key] !== null;
  const network = given('network') ? c.text(u, 'network', path, NAME, 'a network name') : undefined;
  if (['tap', 'pci', 'network'].filter(given).length !== 1) c.fail(path, 'needs a tap, pci or network, and only one');
  let ipv4: RouterUplink['ipv4'] | undefined;
  if (u.ipv4 === 'dhcp') ipv4 = 'dhcp';
  else {
    const s = c.object(u.ipv4, `${path}/ipv4`);
    const address = s && c.text(s, 'address', `${path}/ipv4`, CIDR, 'an IPv4 address with prefix');
    const gateway = s && c.text(s, 'gateway', `${path}/ipv4`, IPV4, 'an IPv4 address');
    const dns = s
      ? c
          .list(s.dns ?? [], `${path}/ipv4/dns`)
          .filter(
            (d, i) =>
              (typeof d === 'string' && IPV4.test(d)) || c.fail(`${path}/ipv4/dns/${i}`, 'must be an IPv4 address'),
          )
      : [];
    if (address && gateway) ipv4 = { address, gateway, dns: dns as string[] };
  }
  if (given('network') && !network) return undefined;
  return mac && ipv4
    ? { ...(tap ? { tap } : {}), ...(pci ? { pci } : {}), ...(network ? { network } : {}), mac, ipv4 }
    : undefined;
}

// A router's egress: its link's MAC and 1 to 16 destinations, each an IPv4 address or a DNS name and a port (they go
// into the router's relay commands, so nothing else passes).
function egressOf(c: Check, value: unknown, path: string): RouterConfig['egress'] {
  const o = c.object(value, path);
  const mac = o && c.text(o, 'mac', path, MAC, 'a locally administered MAC (02:…)');
  const list = o ? c.list(o.targets, `${path}/targets`) : [];
  if (list.length === 0 || list.length > MAX_EGRESS_TARGETS)
    c.fail(`${path}/targets`, `must name 1 to ${MAX_EGRESS_TARGETS} destinations`);
  const targets = list.map((t, i) => {
    const at = `${path}/targets/${i}`;
    const target = c.object(t, at);
    const host = target && c.text(target, 'host', at, HOST, 'an IPv4 address or a DNS name');
    const port = target?.port;
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)
      return c.fail(`${at}/port`, 'must be a port (1-65535)');
    return host ? { host, port: port as number } : undefined;
  });
  if (!mac || targets.includes(undefined)) return undefined;
  return { mac, targets: targets as Array<{ host: string; port: number }> };
}

// Checks host.json's `networks` (absent or null: none); `vms` are the host's VM names, which every name must be one of.
export function checkNetworks(value: unknown, vms: readonly string[]): { value?: NetworksConfig; problems: Problem[] } {
  if (value === undefined || value === null) return { problems: [] };
  const c = new Check();
  const root = c.object(value, '/networks');
  if (!root) return { problems: c.problems };
  const routers = c.list(root.routers, '/networks/routers').map((r, i): RouterConfig | undefined => {
    const path = `/networks/routers/${i}`;
    const o = c.object(r, path);
    const vm = o && c.text(o, 'vm', path, NAME, 'a VM name');
    const up = o && uplink(c, o.uplink, `${path}/uplink`);
    let onion: RouterConfig['onion'];
    if (o && o.onion !== undefined && o.onion !== null) {
      const on = c.object(o.onion, `${path}/onion`);
      const mac = on && c.text(on, 'mac', `${path}/onion`, MAC, 'a locally administered MAC (02:…)');
      if (mac) onion = { mac };
    }
    const egress =
      o && o.egress !== undefined && o.egress !== null ? egressOf(c, o.egress, `${path}/egress`) : undefined;
    return vm && up ? { vm, uplink: up, ...(onion ? { onion } : {}), ...(egress ? { egress } : {}) } : undefined;
  });
  const networks = c.list(root.networks, '/networks/networks').map((n, i) => network(c, n, `/networks/networks/${i}`));
  const links = c.list(root.links, '/networks/links').map((l, i) => link(c, l, `/networks/links/${i}`));
  const routerNames = routers.map((r) => r?.vm);
  networks.forEach((n, i) => {
    if (n && !routerNames.includes(n.router))
      c.fail(`/networks/networks/${i}/router`, `names no router ("${n.router}")`);
  });
  links.forEach((l, i) => {
    if (l && !vms.includes(l.vm)) c.fail(`/networks/links/${i}/vm`, `names no VM of this host ("${l.vm}")`);
    if (l && !networks.some((n) => n?.name === l.network))
      c.fail(`/networks/links/${i}/network`, `names no network ("${l.network}")`);
  });
  if (routers.filter((r) => r?.onion).length > 1) c.fail('/networks/routers', 'one router at most publishes the onion');
  routers.forEach((r, i) => {
    if (r && !vms.includes(r.vm)) c.fail(`/networks/routers/${i}/vm`, `names no VM of this host ("${r.vm}")`);
    // A chained gateway's uplink is its own link on another router's network, with that link's MAC.
    const through = r?.uplink.network;
    if (r && through !== undefined) {
      const own = links.find((l) => l?.vm === r.vm && l.network === through);
      const upstream = networks.find((n) => n?.name === through)?.router;
      if (!own || own.mac !== r.uplink.mac || upstream === undefined || upstream === r.vm)
        c.fail(`/networks/routers/${i}/uplink/network`, `is not a link of ${r.vm} on another router's network`);
    }
  });
  if (c.problems.length > 0) return { problems: c.problems };
  return {
    value: { routers: routers as RouterConfig[], networks: networks as NetworkConfig[], links: links as NetLink[] },
    problems: [],
  };
}

// Checks a list of rules as a person sends them to the API (the host.json shape), at most `max` of them.
export function checkRules(value: unknown, max: number): { value?: NetRule[]; problems: Problem[] } {
  const c = new Check();
  if (!Array.isArray(value)) return { problems: [{ path: '/rules', message: 'must be a list of rules' }] };
  if (value.length > max) return { problems: [{ path: '/rules', message: `at most ${max} rules` }] };
  const rules = value.map((r, i) => rule(c, r, `/rules/${i}`));
  return c.problems.length > 0 ? { problems: c.problems } : { value: rules as NetRule[], problems: [] };
}
