// The one test double of Controls, for the API, WebUI, CLI and SSH tests: VM states, console and checkpoints in memory,
// every call made on it recorded (the calls it makes on itself are not).

import { MAX_VM_RULES, type OnionClientView, type OnionView } from '../common/api-types.ts';
import { TEST_NETWORKS, TEST_WIREGUARD } from '../common/net/fixture.test-support.ts';
import { onionServiceKey } from '../common/onion/service-key.ts';
import type { ConsoleSession, ConsoleViewer } from './console/broker.ts';
import { MemoryConsoles } from './console/memory-consoles.test-support.ts';
import {
  type CheckpointView,
  type ContainerRequest,
  ControlError,
  type Controls,
  type HealthEvent,
  type HostFacts,
  type NetworksView,
  type NetworkView,
  type RescueState,
  type VmNetView,
  type VmView,
} from './controls.ts';
import { checkRules } from './net/check.ts';
import { tunnelStatus } from './net/controls.ts';
import { checkClientKey, checkClientName } from './onion/service.ts';

// The double's onion address (a real one, of an all-zero seed: its checksum holds).
export const FAKE_ONION = onionServiceKey(Buffer.alloc(32)).address;

// One call made on the double, in order, with its arguments as given.
export interface ControlCall {
  method: keyof Controls;
  args: unknown[];
}

// A VM the double starts with: its name and role, everything else defaulted.
export interface FakeVmSeed {
  name: string;
  role: VmView['role'];
  launch?: VmView['launch'];
  state?: VmView['state'];
  // What its console holds at the start (default: a boot and the health marker when it is up, else nothing).
  console?: string;
}

const READS = new Set<keyof Controls>([
  'hostFacts',
  'listVms',
  'getVm',
  'consoleLog',
  'followConsole',
  'openConsole',
  'listCheckpoints',
  'rescueState',
  'networks',
  'vmNet',
  'onion',
]);

interface FakeVm {
  view: VmView;
  console: string;
  followers: Set<(chunk: Buffer) => void>;
  checkpoints: CheckpointView[];
}

const DEFAULT_VMS: FakeVmSeed[] = [
  { name: 'controller', role: 'controller', state: 'ready' },
  { name: 'rescue', role: 'rescue', launch: 'novm' },
  { name: 'web', role: 'application', state: 'ready' },
];

// In-memory Controls: start/stop move states at once, the console grows with each change, checkpoints form a chain.
export class FakeControls implements Controls {
  readonly calls: ControlCall[] = [];
  private readonly vms = new Map<string, FakeVm>();
  private rescueNow: RescueState = { active: false };
  private readonly failing = new Map<string, string>();
  private clock = Date.parse('2026-01-01T00:00:00Z');
  private checkpointSerial = 0;
  // web's one link, on network lan (routed by a router VM the double does not run).
  private webLink: VmNetView = {
    network: 'lan',
    router: 'router',
    address: '198.51.100.2',
    prefix: 24,
    gateway: '198.51.100.1',
    mac: '02:00:00:00:02:01',
    rules: [{ action: 'deny', proto: 'tcp', ports: [25, 25] }],
    forwards: [{ proto: 'tcp', port: 8080, to: 80 }],
    counters: {
      sentBytes: 2048,
      sentPackets: 20,
      receivedBytes: 4096,
      receivedPackets: 30,
      at: '2026-01-01T00:00:00Z',
    },
  };
  // The console brokers: sessions, the keyboard and a fake shell guest behind each running VM.
  readonly consoles = new MemoryConsoles({
    text: (vm) => this.vm(vm).console,
    follow: (vm, listener) => this.followConsole(vm, listener),
    running: (vm) => ['running', 'ready', 'starting'].includes(this.vm(vm).view.state),
    emit: (vm, text) => this.emitConsole(vm, text),
  });

  constructor(seeds: FakeVmSeed[] = DEFAULT_VMS) {
    for (const seed of seeds) this.addVm(seed);
  }

  // The calls that would have changed the host (start, stop, restart, checkpoint, rollback, pin, delete, rescue, run).
  get changes(): ControlCall[] {
    return this.calls.filter((c) => !READS.has(c.method));
  }

  private now(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString();
  }

  private addVm(seed: FakeVmSeed): void {
    const at = this.now();
    const state = seed.state ?? 'stopped';
    const up = state === 'ready' || state === 'running';
    const view: VmView = {
      name: seed.name,
      role: seed.role,
      launch: seed.launch ?? 'vm',
      state,
      ephemeral: seed.role === 'rescue',
      autostart: seed.role === 'controller',
      ...(up ? { pid: 1000 + this.vms.size, startedAt: at, readyAt: at } : {}),
      pinning: { housekeeping: [0], vcpus: [{ vcpu: 0, cpu: 1 + this.vms.size }], emulator: [0] },
      history: up
        ? [
            { at, event: 'started' },
            { at, event: 'ready' },
          ]
        : [],
    };
    const base: CheckpointView = {
      id: `${seed.name}-base`,
      label: 'base',
      createdAt: at,
      sizeBytes: 196_608,
      pinned: true,
      current: true,
    };
    this.vms.set(seed.name, {
      view,
      console: seed.console ?? (up ? `${seed.name} booted\nMVOS-GUEST-READY\n` : ''),
      followers: new Set(),
      checkpoints: [base],
    });
  }

  private record(method: keyof Controls, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  private vm(name: string): FakeVm {
    const vm = this.vms.get(name);
    if (!vm) throw new ControlError('not-found', `no VM named "${name}"`);
    return vm;
  }

  private event(vm: FakeVm, event: string, detail?: string): HealthEvent {
    const entry: HealthEvent = { at: this.now(), event, ...(detail ? { detail } : {}) };
    vm.view.history.push(entry);
    return entry;
  }

  // Appends console output the way a guest's serial line would, telling every follower.
  emitConsole(name: string, text: string): void {
    const vm = this.vm(name);
    vm.console += text;
    for (const follower of vm.followers) follower(Buffer.from(text));
  }

  // Makes the next start of a VM end failed with this reason (the supervisor answers failed starts with the VM, not an
  // error).
  failNextStart(name: string, reason: string): void {
    this.failing.set(name, reason);
  }

  // How many console followers a VM has (streams must let go when the client leaves).
  followers(name: string): number {
    return this.vm(name).followers.size;
  }

  async hostFacts(): Promise<HostFacts> {
    this.record('hostFacts');
    return {
      name: 'test-host',
      version: '1.2.3',
      accel: 'tcg',
      accelReason: 'KVM probe timed out',
      cpus: { online: [0, 1, 2, 3], cores: [[0], [1], [2], [3]], nodes: [[0, 1, 2, 3]] },
      memoryMiB: 8192,
      versions: { agent: '0.1.0', node: process.version, qemu: '7.2.0' },
      rescue: { ...this.rescueNow },
    };
  }

  listVms(): VmView[] {
    this.record('listVms');
    return [...this.vms.values()].map((vm) => structuredClone(vm.view));
  }

  getVm(name: string): VmView | undefined {
    this.record('getVm', name);
    const vm = this.vms.get(name);
    return vm && structuredClone(vm.view);
  }

  async startVm(name: string): Promise<VmView> {
    this.record('startVm', name);
    return this.start(name);
  }

  private start(name: string): VmView {
    const vm = this.vm(name);
    if (vm.view.state !== 'stopped' && vm.view.state !== 'failed')
      throw new ControlError('conflict', `${name} is ${vm.view.state}`);
    const reason = this.failing.get(name);
    if (reason) {
      this.failing.delete(name);
      const at = this.event(vm, 'failed', reason).at;
      Object.assign(vm.view, { state: 'failed', failure: { reason, at } });
      return structuredClone(vm.view);
    }
    const started = this.event(vm, 'started').at;
    const ready = this.event(vm, 'ready').at;
    // As the supervisor does, the last failure stays on the view after the VM comes back.
    Object.assign(vm.view, { state: 'ready', pid: 2000 + this.calls.length, startedAt: started, readyAt: ready });
    this.emitConsole(name, `${name} booted\nMVOS-GUEST-READY\n`);
    return structuredClone(vm.view);
  }

  async stopVm(name: string): Promise<VmView> {
    this.record('stopVm', name);
    return this.stop(name);
  }

  private stop(name: string): VmView {
    const vm = this.vm(name);
    if (vm.view.state === 'stopped') throw new ControlError('conflict', `${name} is already stopped`);
    this.emitConsole(name, `${name} powering off\n`);
    this.event(vm, 'stopped');
    vm.view.state = 'stopped';
    delete vm.view.pid;
    delete vm.view.startedAt;
    delete vm.view.readyAt;
    return structuredClone(vm.view);
  }

  async restartVm(name: string): Promise<VmView> {
    this.record('restartVm', name);
    const vm = this.vm(name);
    if (vm.view.state !== 'stopped') this.stop(name);
    return this.start(name);
  }

  async consoleLog(name: string, options?: { tailBytes?: number }): Promise<string> {
    this.record('consoleLog', name, options);
    const text = Buffer.from(this.vm(name).console);
    return (
      options?.tailBytes === undefined ? text : text.subarray(Math.max(0, text.length - options.tailBytes))
    ).toString('utf8');
  }

  followConsole(name: string, onData: (chunk: Buffer) => void): () => void {
    this.record('followConsole', name);
    const vm = this.vm(name);
    vm.followers.add(onData);
    return () => vm.followers.delete(onData);
  }

  openConsole(
    name: string,
    viewer: ConsoleViewer,
    options?: { write?: boolean; force?: boolean; back?: number },
  ): ConsoleSession {
    this.record('openConsole', name, viewer.who, options);
    this.vm(name);
    return this.consoles.open(name, viewer, options);
  }

  async listCheckpoints(name: string): Promise<CheckpointView[]> {
    this.record('listCheckpoints', name);
    return structuredClone(this.vm(name).checkpoints);
  }

  async createCheckpoint(name: string, label?: string): Promise<CheckpointView> {
    this.record('createCheckpoint', name, label);
    const vm = this.vm(name);
    const parent = vm.checkpoints.find((c) => c.current);
    for (const c of vm.checkpoints) c.current = false;
    const checkpoint: CheckpointView = {
      id: `${name}-${++this.checkpointSerial}`,
      ...(parent ? { parent: parent.id } : {}),
      ...(label ? { label } : {}),
      createdAt: this.now(),
      sizeBytes: 65_536 * this.checkpointSerial,
      pinned: false,
      current: true,
    };
    vm.checkpoints.push(checkpoint);
    return structuredClone(checkpoint);
  }

  private checkpoint(vm: FakeVm, id: string): CheckpointView {
    const found = vm.checkpoints.find((c) => c.id === id);
    if (!found) throw new ControlError('not-found', `${vm.view.name} has no checkpoint "${id}"`);
    return found;
  }

  async rollback(name: string, id: string, options?: { restart?: boolean }): Promise<void> {
    this.record('rollback', name, id, options);
    const vm = this.vm(name);
    const target = this.checkpoint(vm, id);
    const running = vm.view.state !== 'stopped' && vm.view.state !== 'failed';
    if (running && !options?.restart)
      throw new ControlError('conflict', `${name} is ${vm.view.state}: stop it first or roll back with restart`);
    if (running) this.stop(name);
    for (const c of vm.checkpoints) c.current = c === target;
    this.event(vm, 'rollback', id);
    if (running) this.start(name);
  }

  async pinCheckpoint(name: string, id: string, pinned: boolean): Promise<void> {
    this.record('pinCheckpoint', name, id, pinned);
    this.checkpoint(this.vm(name), id).pinned = pinned;
  }

  async deleteCheckpoint(name: string, id: string): Promise<void> {
    this.record('deleteCheckpoint', name, id);
    const vm = this.vm(name);
    const target = this.checkpoint(vm, id);
    if (target.pinned) throw new ControlError('conflict', `checkpoint ${id} is pinned`);
    if (target.current) throw new ControlError('conflict', `checkpoint ${id} is the one ${name} runs on`);
    if (vm.checkpoints.some((c) => c.parent === id))
      throw new ControlError('conflict', `checkpoint ${id} has children`);
    vm.checkpoints.splice(vm.checkpoints.indexOf(target), 1);
  }

  async rescue(reason: string): Promise<RescueState> {
    this.record('rescue', reason);
    if (!reason.trim()) throw new ControlError('invalid', 'a reason is required');
    if (this.rescueNow.active) throw new ControlError('conflict', 'the host already runs on the rescue VM');
    const controller = [...this.vms.values()].find((vm) => vm.view.role === 'controller');
    const rescue = [...this.vms.values()].find((vm) => vm.view.role === 'rescue');
    if (controller && controller.view.state !== 'stopped') this.stop(controller.view.name);
    if (rescue && rescue.view.state === 'stopped') this.start(rescue.view.name);
    this.rescueNow = { active: true, reason, since: this.now() };
    return { ...this.rescueNow };
  }

  rescueState(): RescueState {
    this.record('rescueState');
    return { ...this.rescueNow };
  }

  async runContainer(request: ContainerRequest): Promise<VmView> {
    this.record('runContainer', request.name, request.image);
    if (this.vms.has(request.name)) throw new ControlError('conflict', `${request.name} exists`);
    const view: VmView = {
      name: request.name,
      role: 'application',
      launch: 'container',
      state: 'running',
      ephemeral: true,
      autostart: false,
      history: [{ at: this.now(), event: 'starting', detail: `container ${request.image}` }],
    };
    this.vms.set(request.name, { view, console: '', followers: new Set(), checkpoints: [] });
    return { ...view };
  }

  networks(): NetworksView {
    this.record('networks');
    return {
      networks: [
        ...TEST_NETWORKS.networks
          .filter((n) => n.name === 'lan')
          .map((n) => ({ ...n, vms: this.vms.has('web') ? ['web'] : [] })),
        this.privateNetwork(),
      ],
      routers: [{ vm: 'router', uplink: 'tap mvup0', ipv4: 'dhcp', state: 'stopped' }],
    };
  }

  // A VPN network whose router reported its WireGuard tunnel up, with an exit address.
  private privateNetwork(): NetworkView {
    const { vpn, ...network } = TEST_WIREGUARD.networks.find((n) => n.name === 'private')!;
    const line = `MVOS-VPN vpn0 wireguard ${this.tunnelState} 198.51.100.200:51820 12 4096 2048 198.51.100.2 20`;
    return { ...network, vms: [], tunnel: tunnelStatus(vpn!, line, this.now()) };
  }

  private tunnelState = 'up';

  async restartTunnel(network: string): Promise<NetworkView> {
    this.record('restartTunnel', network);
    if (network === 'lan') throw new ControlError('invalid', 'network lan has no tunnel');
    if (network !== 'private') throw new ControlError('not-found', `no network ${network}`);
    this.tunnelState = 'restarting';
    return this.privateNetwork();
  }

  private onionClients: OnionClientView[] = [];

  onion(): OnionView {
    this.record('onion');
    return {
      address: FAKE_ONION,
      gateway: 'torgw',
      ports: { ssh: 22, api: 80 },
      clients: structuredClone(this.onionClients),
      serving: this.onionClients.length > 0,
    };
  }

  async addOnionClient(name: unknown, publicKey: unknown, by: string): Promise<OnionView> {
    this.record('addOnionClient', name, publicKey, by);
    const client = { name: checkClientName(name), publicKey: checkClientKey(publicKey) };
    if (this.onionClients.some((c) => c.name === client.name))
      throw new ControlError('conflict', `client ${client.name} is already enrolled; remove it first`);
    this.onionClients.push({ ...client, added: this.now(), by });
    return this.onion();
  }

  async removeOnionClient(name: string): Promise<OnionView> {
    this.record('removeOnionClient', name);
    if (!this.onionClients.some((c) => c.name === name)) throw new ControlError('not-found', `no client ${name}`);
    this.onionClients = this.onionClients.filter((c) => c.name !== name);
    return this.onion();
  }

  vmNet(name: string): VmNetView[] {
    this.record('vmNet', name);
    this.vm(name);
    return name === 'web' ? [structuredClone(this.webLink)] : [];
  }

  async setRules(name: string, rules: unknown): Promise<VmNetView[]> {
    this.record('setRules', name, rules);
    this.vm(name);
    if (name !== 'web') throw new ControlError('invalid', `${name} is on no network`);
    const checked = checkRules(rules, MAX_VM_RULES);
    if (!checked.value)
      throw new ControlError('invalid', checked.problems.map((p) => `${p.path} ${p.message}`).join('; '));
    this.webLink = { ...this.webLink, rules: checked.value };
    return [structuredClone(this.webLink)];
  }
}
