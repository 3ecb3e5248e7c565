// The recipe's networks → host.json's `networks`: each VM's address (the subnet's addresses in VM order, after the
// router's), MACs derived from names (stable across builds and hosts), and the links' interface names in each router.
import { createHash } from 'node:crypto';
import { brokerTarget } from '../../common/fleet/connection.ts';
import type { NetLink, NetVpn, NetworkConfig, NetworksConfig, RouterConfig } from '../../common/host-config.ts';
import type { EgressTarget } from '../../common/net/egress-link.ts';
import { ipv4ToNumber, numberToIpv4 } from '../../common/net/plan.ts';
import type { NetworkSpec, Recipe } from '../recipe/types.ts';
import type { ResolvedVpn } from '../secrets/vpn-configs.ts';

// A locally administered unicast MAC (02:…) from a name: the same name gives the same MAC on every build.
export function derivedMac(name: string): string {
  const bytes = createHash('sha256').update(`mvos-mac/${name}`).digest().subarray(0, 5);
  return ['02', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

// The MAC of VM `vm`'s side of its link on `network` (a chained gateway's uplink is that link).
function vmLinkMac(network: string, vm: string): string {
  return derivedMac(`${network}/${vm}/vm`);
}

// Where a Tor network's router takes its VMs' TCP (Tor's TransPort) and DNS (Tor's DNSPort).
export const TOR_TRANS_PORT = 9040;
export const TOR_DNS_PORT = 5353;

// A VPN network's tunnel for host.json: its interface and routing table are numbered per router, in network order.
function tunnelConfig(network: NetworkSpec, index: number, resolved: ResolvedVpn | undefined): NetVpn {
  if (!resolved) throw new Error(`VPN network ${network.name} has no resolved provider file`);
  const { parsed } = resolved;
  return {
    provider: parsed.provider,
    ifname: `vpn${index}`,
    table: 100 + index,
    endpoints: parsed.endpoints.map((e) => ({ ...e, host: e.host.toLowerCase() })),
    addresses: [...parsed.addresses],
    dns: [...parsed.dns],
    ...(parsed.mtu ? { mtu: parsed.mtu } : {}),
    ...(network.vpn?.check ? { check: network.vpn.check } : {}),
    sealed: resolved.sealed,
  };
}

// The fleet's brokers as the router relays them: each URL's host and port, in order.
export function fleetTargets(recipe: Recipe): EgressTarget[] {
  return (recipe.agent.fleet?.servers ?? []).map(brokerTarget);
}

// host.json's networks; null when the recipe declares none. `vpn` holds each VPN network's resolved provider file.
export function networksConfig(
  recipe: Recipe,
  vpn: ReadonlyMap<string, ResolvedVpn> = new Map(),
): NetworksConfig | null {
  const fleetVia = recipe.agent.fleet?.via;
  if (recipe.networks.length === 0 && !recipe.agent.onionGateway && !fleetVia) return null;
  const links: NetLink[] = [];
  const ifnames = new Map<string, number>();
  for (const network of recipe.networks) {
    const [base] = network.subnet.split('/') as [string];
    let next = ipv4ToNumber(base) + 2;
    // A gateway chained behind this network's router is one of its VMs: its link there is its uplink.
    const members = recipe.vms.filter((v) => v.networks.includes(network.name) || v.uplink?.network === network.name);
    for (const vm of members) {
      const index = ifnames.get(network.router) ?? 0;
      ifnames.set(network.router, index + 1);
      links.push({
        vm: vm.name,
        network: network.name,
        ifname: `vl${index}`,
        address: numberToIpv4(next++),
        mac: vmLinkMac(network.name, vm.name),
        routerMac: derivedMac(`${network.name}/${vm.name}/router`),
        rules: vm.rules.map((r) => ({ ...r })),
        forwards: vm.forwards.map((f) => ({ ...f })),
      });
    }
  }
  const routers: RouterConfig[] = recipe.vms
    .filter(
      (vm) =>
        vm.uplink &&
        (recipe.networks.some((n) => n.router === vm.name) ||
          recipe.agent.onionGateway === vm.name ||
          fleetVia === vm.name),
    )
    .map((vm) => {
      const uplink = vm.uplink!;
      return {
        vm: vm.name,
        ...(recipe.agent.onionGateway === vm.name ? { onion: { mac: derivedMac(`onion/${vm.name}`) } } : {}),
        ...(fleetVia === vm.name
          ? { egress: { mac: derivedMac(`egress/${vm.name}`), targets: fleetTargets(recipe) } }
          : {}),
        uplink: {
          ...(uplink.tap ? { tap: { name: uplink.tap, ...(uplink.netns ? { netns: uplink.netns } : {}) } } : {}),
          ...(uplink.pci ? { pci: [...uplink.pci] } : {}),
          ...(uplink.network ? { network: uplink.network } : {}),
          mac: uplink.network ? vmLinkMac(uplink.network, vm.name) : derivedMac(`uplink/${vm.name}`),
          ipv4:
            uplink.address && uplink.gateway
              ? { address: uplink.address, gateway: uplink.gateway, dns: [...uplink.dns] }
              : ('dhcp' as const),
        },
      };
    });
  return {
    routers,
    networks: recipe.networks.map((n): NetworkConfig => {
      const [base, prefix] = n.subnet.split('/') as [string, string];
      const { vpn: tunnel, tor, ...plain } = n;
      const index = recipe.networks.filter((o) => o.router === n.router && o.vpn).indexOf(n);
      return {
        ...plain,
        gateway: numberToIpv4(ipv4ToNumber(base) + 1),
        prefix: Number(prefix),
        ...(tunnel ? { vpn: tunnelConfig(n, index, vpn.get(n.name)) } : {}),
        ...(tor ? { tor: { transPort: TOR_TRANS_PORT, dnsPort: TOR_DNS_PORT } } : {}),
      };
    }),
    links,
  };
}
