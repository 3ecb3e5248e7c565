// A recording test double of the agent's controls: VMs in memory, every call written down, so tests prove what ran.
import type { ConsoleSession, ConsoleViewer } from '../console/broker.ts';
import { MemoryConsoles } from '../console/testing.ts';
import { ControlError, type CheckpointView, type ContainerRequest, type Controls, type HostFacts, type RescueState, type VmView } from '../controls.ts';

// One call made to the controls, with its arguments.
export interface ControlCall {
  method: keyof Controls;
  args: unknown[];
}

// A VM view with defaults for the fields a test does not care about.
export function testVm(name: string, role: VmView['role'] = 'application'): VmView {
  return { name, role, launch: 'vm', state: 'stopped', ephemeral: false, autostart: false, history: [] };
}

// Controls over a few in-memory VMs; `calls` lists what was asked, `changes` only the calls that change something.
export class RecordingControls implements Controls {
  readonly calls: ControlCall[] = [];
  readonly vms = new Map<string, VmView>();
  readonly checkpoints = new Map<string, CheckpointView[]>();
  private readonly followers = new Map<string, Set<(chunk: Buffer) => void>>();
  private rescueNow: RescueState = { active: false };
  consoleText = 'booting\nready\n';
  // The console brokers: sessions, the keyboard and a fake shell guest behind each VM (every VM takes input here).
  readonly consoles = new MemoryConsoles({
    text: () => this.consoleText,
    follow: (vm, listener) => {
      const set = this.followers.get(vm) ?? new Set();
      set.add(listener);
      this.followers.set(vm, set);
      return () => set.delete(listener);
    },
    running: () => true,
    emit: (vm, text) => this.emitConsole(vm, text),
  });

  constructor(vms: VmView[] = [testVm('controller', 'controller'), testVm('rescue', 'rescue'), testVm('web')]) {
    for (const vm of vms) this.vms.set(vm.name, vm);
  }

  // The calls that would have changed the host (start, stop, restart, checkpoint, rollback, pin, delete, rescue).
  get changes(): ControlCall[] {
    const reads = new Set(['hostFacts', 'listVms', 'getVm', 'consoleLog', 'followConsole', 'openConsole', 'listCheckpoints', 'rescueState']);
    return this.calls.filter((c) => !reads.has(c.method));
  }

  // Sends console output to every follower of a VM, as a running guest would.
  emitConsole(name: string, text: string): void {
    for (const follower of this.followers.get(name) ?? []) follower(Buffer.from(text));
  }

  // How many followers a VM's console has (a closed SSH session must leave none).
  followerCount(name: string): number {
    return this.followers.get(name)?.size ?? 0;
  }

  private record(method: keyof Controls, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  private vm(name: string): VmView {
    const vm = this.vms.get(name);
    if (!vm) throw new ControlError('not-found', `no VM named ${name}`);
    return vm;
  }

  async hostFacts(): Promise<HostFacts> {
    this.record('hostFacts');
    return {
      name: 'testhost', version: '1.0', accel: 'tcg', accelReason: 'test double', memoryMiB: 2048,
      cpus: { online: [0, 1], cores: [[0], [1]], nodes: [[0, 1]] },
      versions: { agent: '0.1.0', node: process.versions.node, qemu: '7.2' }, rescue: this.rescueNow,
    };
  }

  listVms(): VmView[] {
    this.record('listVms');
    return [...this.vms.values()];
  }

  getVm(name: string): VmView | undefined {
    this.record('getVm', name);
    return this.vms.get(name);
  }

  async startVm(name: string): Promise<VmView> {
    this.record('startVm', name);
    const vm = this.vm(name);
    if (vm.state === 'running') throw new ControlError('conflict', `${name} is already running`);
    vm.state = 'running';
    vm.pid = 4242;
    return vm;
  }

  async stopVm(name: string): Promise<VmView> {
    this.record('stopVm', name);
    const vm = this.vm(name);
    vm.state = 'stopped';
    delete vm.pid;
    return vm;
  }

  async restartVm(name: string): Promise<VmView> {
    this.record('restartVm', name);
    return this.vm(name);
  }

  async consoleLog(name: string, options?: { tailBytes?: number }): Promise<string> {
    this.record('consoleLog', name, options);
    this.vm(name);
    return this.consoleText;
  }

  followConsole(name: string, onData: (chunk: Buffer) => void): () => void {
    this.record('followConsole', name);
    const set = this.followers.get(name) ?? new Set();
    set.add(onData);
    this.followers.set(name, set);
    return () => set.delete(onData);
  }

  openConsole(name: string, viewer: ConsoleViewer, options?: { write?: boolean; force?: boolean; back?: number }): ConsoleSession {
    this.record('openConsole', name, viewer.who, options);
    this.vm(name);
    return this.consoles.open(name, viewer, options);
  }

  async listCheckpoints(name: string): Promise<CheckpointView[]> {
    this.record('listCheckpoints', name);
    this.vm(name);
    return this.checkpoints.get(name) ?? [];
  }

  async createCheckpoint(name: string, label?: string): Promise<CheckpointView> {
    this.record('createCheckpoint', name, label);
    this.vm(name);
    const list = this.checkpoints.get(name) ?? [];
    const checkpoint: CheckpointView = { id: `cp${list.length + 1}`, createdAt: '2026-01-01T00:00:00Z', sizeBytes: 0, pinned: false, current: true, ...(label ? { label } : {}) };
    this.checkpoints.set(name, [...list.map((c) => ({ ...c, current: false })), checkpoint]);
    return checkpoint;
  }

  async rollback(name: string, id: string, options?: { restart?: boolean }): Promise<void> {
    this.record('rollback', name, id, options);
    if (!(this.checkpoints.get(name) ?? []).some((c) => c.id === id)) throw new ControlError('not-found', `${name} has no checkpoint ${id}`);
  }

  async pinCheckpoint(name: string, id: string, pinned: boolean): Promise<void> {
    this.record('pinCheckpoint', name, id, pinned);
  }

  async deleteCheckpoint(name: string, id: string): Promise<void> {
    this.record('deleteCheckpoint', name, id);
  }

  async rescue(reason: string): Promise<RescueState> {
    this.record('rescue', reason);
    this.rescueNow = { active: true, reason, since: '2026-01-01T00:00:00Z' };
    return this.rescueNow;
  }

  rescueState(): RescueState {
    this.record('rescueState');
    return this.rescueNow;
  }

  async runContainer(request: ContainerRequest): Promise<VmView> {
    this.record('runContainer', request.name, request.image);
    return { name: request.name, role: 'application', launch: 'container', state: 'running', ephemeral: true, autostart: false, history: [] };
  }
}
