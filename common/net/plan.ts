// One router's share of the host's networks: the networks it serves and their links, with the names the ruleset and
// the router's init use for its interfaces.
import type { NetLink, NetworkConfig, NetworksConfig, RouterConfig } from '../host-config.ts';

// The uplink's interface name inside every router.
export const UPLINK_IFNAME = 'uplink';

// What one router serves.
export interface RouterPlan {
  router: RouterConfig;
  networks: NetworkConfig[];
  links: NetLink[];
}

// The plan of router `vm`; undefined when it routes no network.
export function routerPlan(config: NetworksConfig | undefined, vm: string): RouterPlan | undefined {
  const router = config?.routers.find((r) => r.vm === vm);
  if (!config || !router) return undefined;
  const networks = config.networks.filter((n) => n.router === vm);
  const served = new Set(networks.map((n) => n.name));
  return { router, networks, links: config.links.filter((l) => served.has(l.network)) };
}

// The network a link of the plan is on (the plan holds every link's network).
export function networkOf(plan: RouterPlan, link: NetLink): NetworkConfig {
  const network = plan.networks.find((n) => n.name === link.network);
  if (!network) throw new Error(`no network ${link.network} in ${plan.router.vm}'s plan`);
  return network;
}

// The links of the plan whose network `which` picks (a VPN network, a Tor network), in plan order.
export function linksWhere(plan: RouterPlan, which: (network: NetworkConfig) => unknown): NetLink[] {
  return plan.links.filter((l) => which(networkOf(plan, l)));
}

// The links of VM `vm` (one per network it joined), in the order of its NICs.
export function vmLinks(config: NetworksConfig | undefined, vm: string): NetLink[] {
  return config?.links.filter((l) => l.vm === vm) ?? [];
}

// The router of a network (the plan names one for each).
export function routerOfNetwork(config: NetworksConfig, network: string): string {
  const found = config.networks.find((n) => n.name === network);
  if (!found) throw new Error(`no network ${network} in the plan`);
  return found.router;
}

// IPv4 dotted quad → 32-bit number.
export function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

// 32-bit number → IPv4 dotted quad.
export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

// What a VPN network's sealed provider file is bound to: another network's seal does not open as this one's.
export function tunnelSealBinding(network: string): string {
  return `vpn/${network}`;
}
