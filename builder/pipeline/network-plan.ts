// The recipe's networks → host.json's `networks`: each VM's address (the subnet's addresses in VM order, after the
// router's), MACs derived from names (stable across builds and hosts), and the links' interface names in each router.
import { createHash } from 'node:crypto';
import type { NetLink, NetworksConfig, RouterConfig } from '../../common/host-config.ts';
import { ipv4ToNumber, numberToIpv4 } from '../../common/net/plan.ts';
import type { Recipe } from '../recipe/types.ts';

// A locally administered unicast MAC (02:…) from a name: the same name gives the same MAC on every build.
export function derivedMac(name: string): string {
  const bytes = createHash('sha256').update(`mvos-mac/${name}`).digest().subarray(0, 5);
  return ['02', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

// host.json's networks; null when the recipe declares none.
export function networksConfig(recipe: Recipe): NetworksConfig | null {
  if (recipe.networks.length === 0) return null;
  const links: NetLink[] = [];
  const ifnames = new Map<string, number>();
  for (const network of recipe.networks) {
    const [base] = network.subnet.split('/') as [string];
    let next = ipv4ToNumber(base) + 2;
    for (const vm of recipe.vms.filter((v) => v.networks.includes(network.name))) {
      const index = ifnames.get(network.router) ?? 0;
      ifnames.set(network.router, index + 1);
      links.push({
        vm: vm.name,
        network: network.name,
        ifname: `vl${index}`,
        address: numberToIpv4(next++),
        mac: derivedMac(`${network.name}/${vm.name}/vm`),
        routerMac: derivedMac(`${network.name}/${vm.name}/router`),
        rules: vm.rules.map((r) => ({ ...r })),
        forwards: vm.forwards.map((f) => ({ ...f })),
      });
    }
  }
  const routers: RouterConfig[] = recipe.vms
    .filter((vm) => vm.uplink && recipe.networks.some((n) => n.router === vm.name))
    .map((vm) => {
      const uplink = vm.uplink!;
      return {
        vm: vm.name,
        uplink: {
          ...(uplink.tap ? { tap: { name: uplink.tap, ...(uplink.netns ? { netns: uplink.netns } : {}) } } : {}),
          ...(uplink.pci ? { pci: [...uplink.pci] } : {}),
          mac: derivedMac(`uplink/${vm.name}`),
          ipv4:
            uplink.address && uplink.gateway
              ? { address: uplink.address, gateway: uplink.gateway, dns: [...uplink.dns] }
              : ('dhcp' as const),
        },
      };
    });
  return {
    routers,
    networks: recipe.networks.map((n) => {
      const [base, prefix] = n.subnet.split('/') as [string, string];
      return { ...n, gateway: numberToIpv4(ipv4ToNumber(base) + 1), prefix: Number(prefix) };
    }),
    links,
  };
}
