// The columns of VM and checkpoint tables, each defined once; `mvos vm` and the SSH jail each pick the ones they show.
import type { CheckpointView, NetworksView, NetworkView, TunnelStatus, VmNetView, VmView } from './api-types.ts';
import type { NetRule } from './host-config.ts';
import { type Column, renderTable } from './table.ts';

// How a VM is now (failed and why, ready since when), else its last event, as the WebUI's health column says it; a
// failure it came back from is history.
export function healthOf(vm: VmView): string {
  if (vm.state === 'failed') return `failed: ${vm.failure?.reason ?? 'no reason recorded'}`;
  if (vm.state === 'ready' && vm.readyAt) return `ready at ${vm.readyAt}`;
  const last = vm.history[vm.history.length - 1];
  return last ? `${last.event}${last.detail ? ` (${last.detail})` : ''} at ${last.at}` : 'no events yet';
}

// Every column a VM table can show; an absent value is an empty cell.
export const VM_COLUMNS = {
  name: { header: 'NAME', cell: (vm) => vm.name },
  role: { header: 'ROLE', cell: (vm) => vm.role },
  launch: { header: 'LAUNCH', cell: (vm) => vm.launch },
  state: { header: 'STATE', cell: (vm) => vm.state },
  pid: { header: 'PID', cell: (vm) => (vm.pid ? String(vm.pid) : '') },
  since: { header: 'SINCE', cell: (vm) => vm.startedAt ?? '' },
  health: { header: 'HEALTH', cell: healthOf },
} satisfies Record<string, Column<VmView>>;

// Every column a checkpoint table can show; an absent value is an empty cell.
export const CHECKPOINT_COLUMNS = {
  id: { header: 'ID', cell: (c) => c.id },
  parent: { header: 'PARENT', cell: (c) => c.parent ?? '' },
  label: { header: 'LABEL', cell: (c) => c.label ?? '' },
  created: { header: 'CREATED', cell: (c) => c.createdAt },
  sizeKiB: { header: 'SIZE', cell: (c) => `${Math.ceil(c.sizeBytes / 1024)} KiB` },
  sizeBytes: { header: 'SIZE', cell: (c) => String(c.sizeBytes) },
  flags: {
    header: 'FLAGS',
    cell: (c) => [c.current ? 'current' : '', c.pinned ? 'pinned' : ''].filter(Boolean).join(','),
  },
} satisfies Record<string, Column<CheckpointView>>;

// A rule as one line of text: `allow tcp to www.example.com port 443`.
export function ruleText(rule: NetRule): string {
  const to = rule.to
    ? 'cidr' in rule.to
      ? rule.to.cidr
      : 'name' in rule.to
        ? rule.to.name
        : `vm ${rule.to.vm}`
    : 'any';
  const [from, through] = rule.ports ?? [];
  const ports = from === undefined ? '' : ` port ${from}${through !== from ? `-${through}` : ''}`;
  return `${rule.action} ${rule.proto} to ${to}${ports}`;
}

function bytes(n: number): string {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

// Every column a table of a VM's links can show.
export const LINK_COLUMNS = {
  network: { header: 'NETWORK', cell: (l) => l.network },
  router: { header: 'ROUTER', cell: (l) => l.router },
  address: { header: 'ADDRESS', cell: (l) => `${l.address}/${l.prefix}` },
  gateway: { header: 'GATEWAY', cell: (l) => l.gateway },
  mac: { header: 'MAC', cell: (l) => l.mac },
  sent: {
    header: 'SENT',
    cell: (l) => (l.counters ? `${bytes(l.counters.sentBytes)} (${l.counters.sentPackets} pk)` : ''),
  },
  received: {
    header: 'RECEIVED',
    cell: (l) => (l.counters ? `${bytes(l.counters.receivedBytes)} (${l.counters.receivedPackets} pk)` : ''),
  },
  rules: { header: 'RULES', cell: (l) => String(l.rules.length) },
  way: { header: 'WAY OUT', cell: (l) => (l.tunnel ? tunnelSummary(l.tunnel) : 'uplink') },
  forwards: { header: 'FORWARDS', cell: (l) => l.forwards.map((f) => `${f.proto} ${f.port}→${f.to}`).join(', ') },
} satisfies Record<string, Column<VmNetView>>;

// A tunnel in a few words: provider, state, and the exit address when one was seen.
export function tunnelSummary(t: TunnelStatus): string {
  return `${t.provider} ${t.state}${t.exitAddress ? `, exit ${t.exitAddress}` : ''}`;
}

function ago(seconds: number | undefined): string {
  return seconds === undefined ? '' : seconds < 120 ? `${seconds}s ago` : `${Math.round(seconds / 60)}m ago`;
}

// Every column a table of VPN networks' tunnels can show.
export const TUNNEL_COLUMNS = {
  network: { header: 'NETWORK', cell: (n) => n.name },
  provider: { header: 'PROVIDER', cell: (n) => n.tunnel.provider },
  state: { header: 'STATE', cell: (n) => n.tunnel.state },
  endpoint: { header: 'ENDPOINT', cell: (n) => n.tunnel.endpoint ?? n.tunnel.endpoints.join(', ') },
  handshake: {
    header: 'HANDSHAKE',
    cell: (n) => ago(n.tunnel.handshakeAgeS),
  },
  received: { header: 'RECEIVED', cell: (n) => bytes(n.tunnel.rxBytes) },
  sent: { header: 'SENT', cell: (n) => bytes(n.tunnel.txBytes) },
  exit: {
    header: 'EXIT ADDRESS',
    cell: (n) =>
      n.tunnel.exitAddress
        ? `${n.tunnel.exitAddress} (${ago(n.tunnel.exitAgeS)})`
        : n.tunnel.check
          ? 'not seen yet'
          : '',
  },
} satisfies Record<string, Column<NetworkView & { tunnel: TunnelStatus }>>;

// The VPN networks of a view with their tunnels, as a table; a line saying so when there are none.
export function tunnelLines(view: NetworksView): string[] {
  const tunnelled = view.networks.filter((n): n is NetworkView & { tunnel: TunnelStatus } => n.tunnel !== undefined);
  return tunnelled.length === 0 ? ['no VPN networks'] : renderTable(Object.values(TUNNEL_COLUMNS), tunnelled);
}

// Every column a table of networks can show.
export const NETWORK_COLUMNS = {
  name: { header: 'NETWORK', cell: (n) => n.name },
  router: { header: 'ROUTER', cell: (n) => n.router },
  subnet: { header: 'SUBNET', cell: (n) => n.subnet },
  services: { header: 'DHCP/DNS', cell: (n) => `${n.dhcp ? 'dhcp' : '-'}/${n.dns ? 'dns' : '-'}` },
  outbound: { header: 'OUTBOUND', cell: (n) => n.outbound },
  vms: { header: 'VMS', cell: (n) => n.vms.join(', ') },
  via: {
    header: 'WAY OUT',
    cell: (n) => (n.tunnel ? tunnelSummary(n.tunnel) : n.tor ? `tor (bootstrapped ${n.torBootstrap ?? 0}%)` : 'uplink'),
  },
} satisfies Record<string, Column<NetworksView['networks'][number]>>;
