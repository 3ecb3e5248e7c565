// What the agent hands a router VM as fw_cfg files (opt/org.mvos/<name>), read by its init before any interface comes
// up: its links, the compiled ruleset and its rule count, and dnsmasq's configuration.
import {
  EGRESS_IFNAME,
  EGRESS_LINK_HOST,
  EGRESS_PREFIX,
  EGRESS_ROUTER_ADDRESS,
  egressRelayPort,
} from './egress-link.ts';
import { compileRuleset } from './nftables.ts';
import { ONION_AGENT_ADDRESS, ONION_IFNAME, ONION_PREFIX, ONION_ROUTER_ADDRESS } from './onion-link.ts';
import { networkOf, type RouterPlan, UPLINK_IFNAME } from './plan.ts';
import { torrcFile } from './torrc.ts';

// The fw_cfg name prefix of the router's files.
export const ROUTER_FW_CFG_PREFIX = 'opt/org.mvos/';

// `links`: one line per interface — `link IFNAME ROUTER-MAC GATEWAY/PREFIX VM-ADDRESS VM-MAC`, and
// `uplink uplink MAC dhcp` or `uplink uplink MAC ADDRESS/PREFIX GATEWAY`, the MAC `pci` for a NIC passed through whole
// (it keeps its own: the router takes the first NIC that is no link), for the onion service's Tor VM
// `onion agent MAC ADDRESS/PREFIX AGENT-ADDRESS`, and for a router that relays the host's own connections
// `egress egress MAC ADDRESS/PREFIX QEMU-ADDRESS`.
export function linksFile(plan: RouterPlan): string {
  const { uplink } = plan.router;
  const mac = uplink.pci ? 'pci' : uplink.mac;
  const lines = [
    uplink.ipv4 === 'dhcp'
      ? `uplink ${UPLINK_IFNAME} ${mac} dhcp`
      : `uplink ${UPLINK_IFNAME} ${mac} ${uplink.ipv4.address} ${uplink.ipv4.gateway}`,
  ];
  for (const link of plan.links) {
    const network = networkOf(plan, link);
    lines.push(
      `link ${link.ifname} ${link.routerMac} ${network.gateway}/${network.prefix} ${link.address} ${link.mac}`,
    );
  }
  const { onion } = plan.router;
  if (onion)
    lines.push(`onion ${ONION_IFNAME} ${onion.mac} ${ONION_ROUTER_ADDRESS}/${ONION_PREFIX} ${ONION_AGENT_ADDRESS}`);
  const { egress } = plan.router;
  if (egress)
    lines.push(`egress ${EGRESS_IFNAME} ${egress.mac} ${EGRESS_ROUTER_ADDRESS}/${EGRESS_PREFIX} ${EGRESS_LINK_HOST}`);
  return `${lines.join('\n')}\n`;
}

function netmask(prefix: number): string {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join('.');
}

// dnsmasq's configuration: DHCP only for the VMs of the plan (each its fixed address, by MAC), DNS for the links of
// networks that have it, upstream servers from the uplink, and the DNS-name sets of the ruleset filled from answers.
export function dnsmasqConf(plan: RouterPlan, nameSets: Array<{ set: string; name: string }>): string {
  const lines = [
    'user=nobody',
    'group=nogroup',
    'no-hosts',
    'bogus-priv',
    'domain-needed',
    'dhcp-authoritative',
    'dhcp-leasefile=/run/dnsmasq.leases',
    'log-facility=/run/dnsmasq.log',
    `except-interface=${UPLINK_IFNAME}`,
  ];
  const { ipv4 } = plan.router.uplink;
  if (ipv4 === 'dhcp') lines.push('resolv-file=/run/upstream.resolv');
  else lines.push('no-resolv', ...ipv4.dns.map((server) => `server=${server}`));
  for (const link of plan.links) lines.push(`interface=${link.ifname}`);
  for (const network of plan.networks) {
    if (!network.dhcp) continue;
    const base = network.subnet.split('/')[0];
    lines.push(`dhcp-range=set:${network.name},${base},static,${netmask(network.prefix)},1h`);
    lines.push(`dhcp-option=tag:${network.name},option:router,${network.gateway}`);
    // A VPN network's VMs ask the DNS servers inside the tunnel; the router's own DNS does not answer them.
    const servers = !network.dns ? [] : network.vpn ? network.vpn.dns : [network.gateway];
    lines.push(`dhcp-option=tag:${network.name},option:dns-server${servers.map((a) => `,${a}`).join('')}`);
  }
  for (const link of plan.links) lines.push(`dhcp-host=${link.mac},${link.address},${link.vm}`);
  for (const { set, name } of nameSets) lines.push(`nftset=/${name}/4#ip#mvos#${set}`);
  return `${lines.join('\n')}\n`;
}

// `tunnels`: one block per VPN network — `tunnel IFNAME PROVIDER TABLE ADDRESSES MTU CHECK` (comma lists, `-` for none),
// `endpoint IFNAME HOST PORT PROTO PEER` for each endpoint, and `via LINK IFNAME` for each of its links.
export function tunnelsFile(plan: RouterPlan): string {
  const lines: string[] = [];
  for (const network of plan.networks) {
    const t = network.vpn;
    if (!t) continue;
    const addresses = t.addresses.length > 0 ? t.addresses.join(',') : '-';
    lines.push(`tunnel ${t.ifname} ${t.provider} ${t.table} ${addresses} ${t.mtu ?? '-'} ${t.check ?? '-'}`);
    for (const e of t.endpoints) lines.push(`endpoint ${t.ifname} ${e.host} ${e.port} ${e.proto} ${e.peer ?? '-'}`);
    for (const link of plan.links.filter((l) => l.network === network.name))
      lines.push(`via ${link.ifname} ${t.ifname}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

// The fw_cfg name (without the prefix) of a tunnel's provider file, opened by the agent just before the router starts.
export function tunnelConfigName(ifname: string): string {
  return `${ifname}.conf`;
}

// `egress`: one line per destination the router relays for the host — `RELAY-PORT HOST PORT`.
export function egressFile(plan: RouterPlan): string {
  const targets = plan.router.egress?.targets ?? [];
  return targets.map((t, i) => `${egressRelayPort(i)} ${t.host} ${t.port}\n`).join('');
}

// Every file of one router, by fw_cfg name (without the prefix); the tunnels' sealed provider files are not among
// them (the agent opens those itself).
export function routerFiles(plan: RouterPlan): Record<string, string> {
  const compiled = compileRuleset(plan);
  return {
    links: linksFile(plan),
    tunnels: tunnelsFile(plan),
    torrc: torrcFile(plan),
    egress: egressFile(plan),
    'ruleset.json': `${JSON.stringify(compiled.json)}\n`,
    rules: `${compiled.rules}\n`,
    'dnsmasq.conf': dnsmasqConf(plan, compiled.nameSets),
  };
}
