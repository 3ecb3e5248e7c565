// The host's networks at run time: what `mvos net`, `mvos vm net`, the API, the WebUI and SSH show, and rule changes,
// applied to the running router in one transaction and read back, kept across restarts of the agent and the router.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MAX_VM_RULES,
  type NetworksView,
  type NetworkView,
  type TunnelStatus,
  type VmNetView,
  type VmState,
} from '../../common/api-types.ts';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import type { NetRule, NetVpn, NetworkConfig, NetworksConfig } from '../../common/host-config.ts';
import { routerOfNetwork, routerPlan } from '../../common/net/plan.ts';
import { routerFiles } from '../../common/net/router-files.ts';
import { ControlError } from '../controls.ts';
import type { VmInstance } from '../supervisor/instance.ts';
import { checkNetworks, checkRules } from './check.ts';
import { vfioProblems } from './vfio.ts';

// What the network controls need of the supervisor.
export interface NetControlsNeeds {
  stateDir: string;
  vms: readonly string[];
  instance: (vm: string) => VmInstance | undefined;
  state: (vm: string) => VmState | undefined;
  log: (line: string) => void;
  // Where sysfs is (tests give a fake one).
  sysfs?: string;
}

// How long a router may take to load a ruleset and answer.
const APPLY_TIMEOUT_MS = 30_000;

function rulesFile(stateDir: string): string {
  return join(stateDir, 'net', 'rules.json');
}

function withRules(config: NetworksConfig, rules: Record<string, NetRule[]>): NetworksConfig {
  return { ...config, links: config.links.map((l) => (rules[l.vm] ? { ...l, rules: rules[l.vm]! } : l)) };
}

// The router's counters line (`MVOS-NET-COUNTERS vl0:rxb:rxp:txb:txp …`) for one interface, from the VM's side.
function countersOf(line: string | undefined, ifname: string, at: string): VmNetView['counters'] {
  const field = line?.split(' ').find((f) => f.startsWith(`${ifname}:`));
  const numbers = field?.split(':').slice(1).map(Number);
  if (numbers?.length !== 4 || numbers.some((n) => !Number.isSafeInteger(n))) return undefined;
  const [rxBytes, rxPackets, txBytes, txPackets] = numbers as [number, number, number, number];
  return { sentBytes: rxBytes, sentPackets: rxPackets, receivedBytes: txBytes, receivedPackets: txPackets, at };
}

// A tunnel's status from its router's last `MVOS-VPN IF PROVIDER STATE ENDPOINT HANDSHAKE-AGE RX TX EXIT EXIT-AGE` line
// (`-` for unknown); `unknown` when there is none (the router is not running).
export function tunnelStatus(tunnel: NetVpn, line: string | undefined, at: string): TunnelStatus {
  const base: TunnelStatus = {
    provider: tunnel.provider,
    interface: tunnel.ifname,
    state: 'unknown',
    endpoints: tunnel.endpoints.map((e) => `${e.host}:${e.port}/${e.proto}`),
    rxBytes: 0,
    txBytes: 0,
    ...(tunnel.check ? { check: tunnel.check } : {}),
  };
  const fields = line?.split(' ') ?? [];
  const [, ifname, , state, endpoint, age, rx, tx, exit, exitAge] = fields;
  const states = ['up', 'connecting', 'down', 'restarting'] as const;
  if (fields.length !== 10 || ifname !== tunnel.ifname || !states.includes(state as (typeof states)[number]))
    return base;
  const count = (text: string | undefined) => (text && /^\d{1,15}$/.test(text) ? Number(text) : undefined);
  const address = (text: string | undefined) =>
    text && /^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$/.test(text) ? text : undefined;
  const used = address(endpoint);
  const handshake = count(age);
  const exitAddress = address(exit);
  const exitAgeS = count(exitAge);
  return {
    ...base,
    state: state as TunnelStatus['state'],
    ...(used ? { endpoint: used } : {}),
    ...(handshake !== undefined ? { handshakeAgeS: handshake } : {}),
    rxBytes: count(rx) ?? 0,
    txBytes: count(tx) ?? 0,
    ...(exitAddress ? { exitAddress } : {}),
    ...(exitAddress && exitAgeS !== undefined ? { exitAgeS } : {}),
    at,
  };
}

// The networks of a running agent.
export class NetControls {
  private changing: Promise<unknown> = Promise.resolve();

  // What stops each bare-metal router's uplink from being passed to it (checked once at start), by router.
  private readonly uplinkProblems = new Map<string, string[]>();

  private constructor(
    private current: NetworksConfig | undefined,
    private readonly overrides: Record<string, NetRule[]>,
    private readonly needs: NetControlsNeeds,
  ) {}

  // The host's networks with the rule changes made through the API since the image was built.
  static async open(config: NetworksConfig | undefined, needs: NetControlsNeeds): Promise<NetControls> {
    if (!config) return new NetControls(undefined, {}, needs);
    const text = await readFile(rulesFile(needs.stateDir), 'utf8').catch(() => '{}');
    let overrides: Record<string, NetRule[]> = {};
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      for (const [vm, rules] of Object.entries(parsed)) {
        const checked = checkRules(rules, MAX_VM_RULES);
        if (checked.value && config.links.some((l) => l.vm === vm)) overrides[vm] = checked.value;
      }
      const merged = checkNetworks(withRules(config, overrides), needs.vms);
      if (!merged.value) throw new Error(merged.problems.map((p) => `${p.path} ${p.message}`).join('; '));
    } catch (error) {
      needs.log(
        `networks: the saved rule changes are not usable, the image's rules apply (${(error as Error).message})`,
      );
      overrides = {};
    }
    const controls = new NetControls(withRules(config, overrides), overrides, needs);
    for (const router of config.routers) {
      if (!router.uplink.pci) continue;
      const problems = await vfioProblems(router.uplink.pci, needs.sysfs);
      if (problems.length === 0) continue;
      controls.uplinkProblems.set(router.vm, problems);
      for (const problem of problems) needs.log(`${router.vm}: uplink: ${problem}`);
    }
    return controls;
  }

  // The networks as they are now (what a router starting now is given).
  get config(): NetworksConfig | undefined {
    return this.current;
  }

  view(): NetworksView {
    const config = this.current;
    if (!config) return { networks: [], routers: [] };
    return {
      networks: config.networks.map((n) => this.networkView(config, n)),
      routers: config.routers.map((r) => {
        const state = this.needs.state(r.vm);
        return {
          vm: r.vm,
          uplink: r.uplink.tap
            ? `tap ${r.uplink.tap.name}${r.uplink.tap.netns ? ` (netns ${r.uplink.tap.netns})` : ''}`
            : r.uplink.network
              ? `network ${r.uplink.network}`
              : `pci ${(r.uplink.pci ?? []).join(', ')}`,
          ipv4: r.uplink.ipv4 === 'dhcp' ? 'dhcp' : `${r.uplink.ipv4.address} via ${r.uplink.ipv4.gateway}`,
          ...(state ? { state } : {}),
          ...(this.uplinkProblems.has(r.vm) ? { problems: this.uplinkProblems.get(r.vm) } : {}),
        };
      }),
    };
  }

  private networkView(config: NetworksConfig, network: NetworkConfig): NetworkView {
    const { vpn: _sealed, ...plain } = network;
    const vms = config.links.filter((l) => l.network === network.name).map((l) => l.vm);
    if (network.tor) {
      const percent = /^MVOS-TOR (\d{1,3})$/.exec(this.needs.instance(network.router)?.reports.get('MVOS-TOR') ?? '');
      return { ...plain, vms, ...(percent ? { torBootstrap: Math.min(100, Number(percent[1])) } : {}) };
    }
    const tunnel = this.tunnelOf(network, new Date().toISOString());
    return { ...plain, vms, ...(tunnel ? { tunnel } : {}) };
  }

  // A VPN network's tunnel as its router last reported it; undefined for a network without one.
  private tunnelOf(network: NetworkConfig, at: string): TunnelStatus | undefined {
    const vpn = network.vpn;
    return vpn && tunnelStatus(vpn, this.needs.instance(network.router)?.reports.get(`MVOS-VPN ${vpn.ifname}`), at);
  }

  // Takes a VPN network's tunnel down and up again in its running router; the firewall stays as it is throughout.
  async restartTunnel(name: string): Promise<NetworkView> {
    const config = this.current;
    const network = config?.networks.find((n) => n.name === name);
    if (!config || !network) throw new ControlError('not-found', `no network ${name}`);
    if (!network.vpn) throw new ControlError('invalid', `network ${name} has no tunnel`);
    const instance = this.needs.instance(network.router);
    if (!instance || this.needs.state(network.router) !== 'ready')
      throw new ControlError('conflict', `router ${network.router} is not running`);
    const reply = await instance
      .request(`MVOS-VPN-RESTART ${network.vpn.ifname}`, /^MVOS-VPN-(RESTARTED|REFUSED)/, APPLY_TIMEOUT_MS)
      .catch((error: Error) => {
        throw new ControlError('conflict', `router ${network.router} did not answer: ${error.message}`);
      });
    if (!reply.startsWith('MVOS-VPN-RESTARTED'))
      throw new ControlError('conflict', `router ${network.router} could not restart ${network.vpn.ifname}`);
    this.needs.log(`${network.router}: tunnel ${network.vpn.ifname} of ${name} restarted`);
    return this.networkView(config, network);
  }

  vmNet(name: string): VmNetView[] {
    const config = this.current;
    return (config?.links ?? [])
      .filter((l) => l.vm === name)
      .map((link) => {
        const network = config!.networks.find((n) => n.name === link.network)!;
        const router = this.needs.instance(network.router);
        const at = new Date().toISOString();
        const counters = countersOf(router?.reports.get('MVOS-NET-COUNTERS'), link.ifname, at);
        const tunnel = this.tunnelOf(network, at);
        return {
          network: link.network,
          router: network.router,
          address: link.address,
          prefix: network.prefix,
          gateway: network.gateway,
          mac: link.mac,
          rules: link.rules,
          forwards: link.forwards,
          ...(counters ? { counters } : {}),
          ...(tunnel ? { tunnel } : {}),
        };
      });
  }

  // Replaces VM `name`'s rules: checked, compiled, loaded by each running router in one transaction and read back;
  // kept only once every running router took them. A router that refuses keeps the rules it had.
  setRules(name: string, value: unknown): Promise<VmNetView[]> {
    const change = async (): Promise<VmNetView[]> => {
      const config = this.current;
      if (!config?.links.some((l) => l.vm === name)) throw new ControlError('invalid', `${name} is on no network`);
      const checked = checkRules(value, MAX_VM_RULES);
      if (!checked.value)
        throw new ControlError('invalid', checked.problems.map((p) => `${p.path} ${p.message}`).join('; '));
      const overrides = { ...this.overrides, [name]: checked.value };
      const next = withRules(config, overrides);
      const merged = checkNetworks(next, this.needs.vms);
      if (!merged.value)
        throw new ControlError('invalid', merged.problems.map((p) => `${p.path} ${p.message}`).join('; '));
      const routers = new Set(next.links.filter((l) => l.vm === name).map((l) => routerOfNetwork(next, l.network)));
      for (const rule of checked.value) {
        const target = rule.to && 'vm' in rule.to ? rule.to.vm : undefined;
        const reachable = next.links.some((l) => l.vm === target && routers.has(routerOfNetwork(next, l.network)));
        if (target !== undefined && (target === name || !reachable))
          throw new ControlError('invalid', `VM "${target}" is not reachable from ${name} through its router`);
      }
      for (const router of routers) await this.applyTo(next, router);
      await mkdir(join(this.needs.stateDir, 'net'), { recursive: true, mode: 0o700 });
      await writeFileAtomic(rulesFile(this.needs.stateDir), `${JSON.stringify(overrides, null, 2)}\n`);
      Object.assign(this.overrides, overrides);
      this.current = next;
      return this.vmNet(name);
    };
    const result = this.changing.then(change, change);
    this.changing = result.catch(() => undefined);
    return result;
  }

  private async applyTo(config: NetworksConfig, router: string): Promise<void> {
    const instance = this.needs.instance(router);
    const plan = routerPlan(config, router);
    if (!plan || !instance || this.needs.state(router) !== 'ready') return;
    const files = routerFiles(plan);
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const line = `MVOS-NET-APPLY ${b64(files['ruleset.json']!)} ${files.rules!.trim()} ${b64(files['dnsmasq.conf']!)}`;
    const reply = await instance
      .request(line, /^MVOS-NET-(APPLIED|REFUSED)/, APPLY_TIMEOUT_MS)
      .catch((error: Error) => {
        throw new ControlError('conflict', `router ${router} did not take the rules: ${error.message}`);
      });
    if (!reply.startsWith('MVOS-NET-APPLIED'))
      throw new ControlError(
        'conflict',
        `router ${router} refused the rules: ${reply.replace(/^MVOS-NET-REFUSED\s*/, '')}`,
      );
  }
}
