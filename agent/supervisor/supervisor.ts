// The VM supervisor: starts the controller pinned to its cores, watches every VM, restarts with back-off, falls back to
// rescue, re-attaches after an agent restart.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostConfig } from '../config.ts';
import type { ConsoleSession, ConsoleViewer } from '../console/broker.ts';
import {
  type CheckpointView,
  type ContainerRequest,
  ControlError,
  type Controls,
  type HostFacts,
  type NetworksView,
  type NetworkView,
  type OnionView,
  type RescueState,
  type VmNetView,
  type VmView,
} from '../controls.ts';
import { sweepEphemeral } from '../disks/ephemeral.ts';
import { vmPaths } from '../launch/vm.ts';
import { NetControls } from '../net/controls.ts';
import type { OnionLaunch } from '../net/links.ts';
import type { OnionService } from '../onion/service.ts';
import { type CpuTopology, readTopology } from '../pinning/topology.ts';
import type { VaultService } from '../vault/service.ts';
import { CheckpointControls } from './checkpoints.ts';
import { VmConsoles } from './console.ts';
import { containerVm, prepareContainer, sweepContainers } from './containers.ts';
import { hostFacts } from './facts.ts';
import { isOurQemu, readPidfile } from './instance.ts';
import { VmLifecycle } from './lifecycle.ts';
import { planSlots } from './pinning.ts';
import { emptyRecord, readRecord, type VmRecord, withEvent, writeRecord } from './record.ts';
import { readRescueState, writeRescueState } from './rescue-state.ts';
import { startsWithAgent } from './restart-policy.ts';
import { newSlot, recordedSlots, type Slot, slotNamed, vmView } from './slot.ts';

// How the supervisor runs: where state lives, the accelerator, and the knobs tests turn down.
export interface SupervisorOptions {
  stateDir: string;
  // Image paths in the host config are looked up under this root first (a host image unpacked on a build machine).
  root: string;
  accel: 'kvm' | 'tcg';
  accelReason: string;
  agentVersion: string;
  sysfs?: string;
  qemu?: string;
  // How long a VM gets to power off on the ACPI button before it is quit.
  stopGraceMs?: number;
  log: (line: string) => void;
  // Called after every change, so status.json and the API stay current.
  onChange?: () => void;
  // The onion service, when the host config publishes one: the service, the agent's doors for it (unix sockets its
  // gateway's local link leads to) and the program that joins a forwarded connection to one.
  onion?: { service: OnionService; doors: { api: string; ssh?: string }; socat: string };
  // The host vault: each VM asks it for its own secrets over its own channel.
  vault?: Pick<VaultService, 'secretForVm' | 'unlock' | 'drill'>;
}

// Runs the host's VMs and answers the agent's controls.
export class Supervisor implements Controls {
  private readonly slots = new Map<string, Slot>();
  private readonly lifecycle: VmLifecycle;
  private readonly consoles = new VmConsoles();
  private readonly checkpoints = new CheckpointControls({
    slot: (name) => this.slot(name),
    save: (slot, record) => this.save(slot, record),
    stopVm: (name) => this.stopVm(name),
    startVm: (name) => this.startVm(name),
  });
  private rescueInfo: RescueState = { active: false };
  private net: NetControls | undefined;
  private topology: CpuTopology | undefined;

  constructor(
    private readonly config: HostConfig,
    private readonly options: SupervisorOptions,
  ) {
    for (const vm of config.vms) this.slots.set(vm.name, newSlot(vm, vmPaths(options.stateDir, vm.name)));
    this.lifecycle = new VmLifecycle(this.slots, {
      ...options,
      networks: () => this.net?.config ?? config.networks,
      ...(config.agent?.secretKeyFile ? { secretKeyFile: config.agent.secretKeyFile } : {}),
      onion: () => this.onionLaunch(),
      saveRescue: (state) => this.saveRescue(state),
    });
  }

  // Re-attaches to VMs that still run, plans pinning, then starts the controller and autostart VMs that are not
  // running.
  async start(): Promise<void> {
    const { stateDir, log } = this.options;
    await mkdir(join(stateDir, 'vms'), { recursive: true, mode: 0o700 });
    this.topology = await readTopology(this.options.sysfs);
    this.net = await NetControls.open(this.config.networks, {
      stateDir,
      vms: this.config.vms.map((vm) => vm.name),
      instance: (name) => this.slots.get(name)?.instance,
      state: (name) => this.slots.get(name)?.record.state,
      log,
      ...(this.options.sysfs ? { sysfs: this.options.sysfs } : {}),
    });
    this.rescueInfo = await readRescueState(stateDir);
    for (const slot of this.slots.values()) {
      await mkdir(slot.paths.dir, { recursive: true, mode: 0o700 });
      slot.record = await readRecord(slot.paths.dir, slot.vm.name);
    }
    for (const [name, slot] of await recordedSlots(stateDir, (name) => this.slots.has(name)))
      this.slots.set(name, slot);
    planSlots(this.config, this.topology, this.slots, log);
    // Re-attach first: a store opened under a running VM must know its QMP (QEMU owns the open layers).
    for (const slot of this.slots.values()) await this.reattach(slot);
    // Each VM's disk at once, side by side: opening one runs qemu-img (a check, a new layer), and one after the other
    // they cost seconds of a boot under TCG. A disk that cannot be opened fails its VM when it starts (and the
    // controller falls back); the agent stays up.
    await Promise.all(
      [...this.slots.values()].map((slot) =>
        this.lifecycle
          .ensureStore(slot)
          .catch((error: Error) => log(`${slot.vm.name}: its disk could not be opened: ${error.message}`)),
      ),
    );
    // After re-attaching: what a live QEMU holds stays, everything a crashed agent left behind goes.
    await sweepContainers(stateDir, (name) => this.slots.get(name)?.instance !== undefined);
    const swept = await sweepEphemeral(stateDir);
    if (swept.removed.length > 0) log(`ephemeral layers removed: ${swept.removed.join(', ')}`);
    const controller = this.config.vms.find((vm) => vm.role === 'controller');
    const fallback = controller?.fallback ? this.slots.get(controller.fallback) : undefined;
    const onRescue = this.rescueInfo.active && fallback?.instance !== undefined;
    for (const slot of this.slots.values()) {
      if (slot.instance || !startsWithAgent(slot.vm, onRescue)) continue;
      // Not startVm: an agent restart is no fresh start for a VM that keeps failing (its window's count stays).
      void slot.queue
        .run(() => (slot.instance ? Promise.resolve() : this.lifecycle.launch(slot, 'agent start')))
        .catch((error) => log(`${slot.vm.name}: ${(error as Error).message}`));
    }
  }

  private async reattach(slot: Slot): Promise<void> {
    const pid = slot.record.pid ?? (await readPidfile(slot.paths));
    const running = ['starting', 'running', 'ready'].includes(slot.record.state);
    if (pid && running && (await isOurQemu(pid, slot.paths))) {
      this.options.log(`${slot.vm.name}: re-attaching to QEMU pid ${pid} (${slot.record.state})`);
      await this.lifecycle.attach(slot, pid, 're-attached');
      return;
    }
    if (running)
      await this.save(slot, {
        ...withEvent(slot.record, 'lost', 'not running when the agent started'),
        state: 'stopped',
        pid: undefined,
        ephemeral: undefined,
      });
  }

  private save(slot: Slot, record: VmRecord): Promise<void> {
    return this.lifecycle.save(slot, record);
  }

  private async saveRescue(state: RescueState): Promise<void> {
    this.rescueInfo = state;
    await writeRescueState(this.options.stateDir, state);
    this.options.onChange?.();
  }

  private slot(name: string): Slot {
    return slotNamed(this.slots, name);
  }

  // Stops watching without stopping the VMs (the agent is exiting; they keep running and a new agent re-attaches).
  async detachAll(): Promise<void> {
    this.lifecycle.closing = true;
    for (const slot of this.slots.values()) {
      clearTimeout(slot.deadline);
      clearTimeout(slot.restartTimer);
      slot.instance?.detach();
      if (slot.instance) await writeRecord(slot.paths.dir, slot.record);
      slot.instance = undefined;
    }
  }

  // Stops every VM (host shutdown).
  async stopAll(): Promise<void> {
    this.lifecycle.closing = true;
    await Promise.all(
      [...this.slots.values()].map((slot) =>
        slot.queue.run(async () => {
          clearTimeout(slot.restartTimer);
          if (!slot.instance) return;
          await this.lifecycle.stopInstance(slot, this.options.stopGraceMs ?? 10_000);
          await this.save(slot, {
            ...withEvent(slot.record, 'stopped', 'host shutdown'),
            state: 'stopped',
            pid: undefined,
          });
        }),
      ),
    );
  }

  listVms(): VmView[] {
    return [...this.slots.values()].map(vmView);
  }

  getVm(name: string): VmView | undefined {
    const slot = this.slots.get(name);
    return slot && vmView(slot);
  }

  async startVm(name: string): Promise<VmView> {
    const slot = this.slot(name);
    await slot.queue.run(async () => {
      if (slot.instance) throw new ControlError('conflict', `${name} is already ${slot.record.state}`);
      // A person starting it again is a fresh start: earlier failures no longer count toward its fallback.
      slot.record = { ...slot.record, failures: 0, failureTimes: [] };
      await this.lifecycle.launch(slot, 'start requested');
    });
    return vmView(slot);
  }

  async stopVm(name: string): Promise<VmView> {
    const slot = this.slot(name);
    await slot.queue.run(async () => {
      clearTimeout(slot.restartTimer);
      if (!slot.instance) {
        if (slot.record.state === 'failed')
          await this.save(slot, withEvent({ ...slot.record, state: 'stopped' }, 'stopped', 'stop requested'));
        return;
      }
      await this.save(slot, { ...slot.record, state: 'stopping' });
      await this.lifecycle.stopInstance(slot, this.options.stopGraceMs ?? 10_000);
      await this.save(slot, {
        ...withEvent(slot.record, 'stopped', 'stop requested'),
        state: 'stopped',
        pid: undefined,
      });
    });
    return vmView(slot);
  }

  async restartVm(name: string): Promise<VmView> {
    await this.stopVm(name);
    return this.startVm(name);
  }

  async consoleLog(name: string, options: { tailBytes?: number } = {}): Promise<string> {
    return this.consoles.log(this.slot(name).paths, options);
  }

  followConsole(name: string, onData: (chunk: Buffer) => void): () => void {
    return this.consoles.follow(this.slot(name).paths, onData);
  }

  openConsole(
    name: string,
    viewer: ConsoleViewer,
    options: { write?: boolean; force?: boolean; back?: number } = {},
  ): ConsoleSession {
    return this.consoles.open(name, this.slot(name).paths, viewer, options);
  }

  async listCheckpoints(name: string): Promise<CheckpointView[]> {
    return this.checkpoints.list(name);
  }

  async createCheckpoint(name: string, label?: string): Promise<CheckpointView> {
    return this.checkpoints.create(name, label);
  }

  async rollback(name: string, id: string, options: { restart?: boolean } = {}): Promise<void> {
    return this.checkpoints.rollback(name, id, options);
  }

  async pinCheckpoint(name: string, id: string, pinned: boolean): Promise<void> {
    return this.checkpoints.pin(name, id, pinned);
  }

  async deleteCheckpoint(name: string, id: string): Promise<void> {
    return this.checkpoints.delete(name, id);
  }

  async rescue(reason: string): Promise<RescueState> {
    const controller = this.config.vms.find((vm) => vm.role === 'controller');
    const rescueVm = this.config.vms.find((vm) => vm.role === 'rescue');
    if (!rescueVm) throw new ControlError('invalid', 'this host has no rescue VM');
    if (controller) await this.stopVm(controller.name);
    await this.saveRescue({ active: true, reason: `rescue requested: ${reason}`, since: new Date().toISOString() });
    const slot = this.slot(rescueVm.name);
    if (!slot.instance) await this.startVm(rescueVm.name);
    return this.rescueInfo;
  }

  async runContainer(request: ContainerRequest): Promise<VmView> {
    const vm = containerVm(this.config, request);
    const existing = this.slots.get(vm.name);
    if (this.config.vms.some((own) => own.name === vm.name))
      throw new ControlError('conflict', `${vm.name} is one of the host's own VMs; name the container otherwise`);
    // The slot is taken before anything awaits, so two launches of one name meet in its queue, where the second sees
    // the first (checked outside it, the second deleted the first's files and orphaned its QEMU).
    const paths = vmPaths(this.options.stateDir, vm.name);
    const slot: Slot = existing ?? newSlot(vm, paths);
    this.slots.set(vm.name, slot);
    await slot.queue.run(async () => {
      if (slot.instance || slot.record.container)
        throw new ControlError('conflict', `${vm.name} is already ${slot.record.state}`);
      slot.vm = vm;
      await mkdir(paths.dir, { recursive: true, mode: 0o700 });
      const container = await prepareContainer(this.options.stateDir, request).catch((error: unknown) => {
        // A name that never ran leaves no slot behind.
        if (!slot.record.spec && !slot.instance) this.slots.delete(vm.name);
        throw error;
      });
      await this.save(slot, { ...emptyRecord(vm.name), history: slot.record.history, spec: vm, container });
      await this.lifecycle.launch(slot, `container ${request.image}`);
    });
    return vmView(slot);
  }

  networks(): NetworksView {
    return this.netControls().view();
  }

  restartTunnel(network: string): Promise<NetworkView> {
    return this.netControls().restartTunnel(network);
  }

  vmNet(name: string): VmNetView[] {
    this.slot(name);
    return this.netControls().vmNet(name);
  }

  async setRules(name: string, rules: unknown): Promise<VmNetView[]> {
    this.slot(name);
    return this.netControls().setRules(name, rules);
  }

  onion(): OnionView | undefined {
    return this.options.onion?.service.view();
  }

  addOnionClient(name: unknown, publicKey: unknown, by: string): Promise<OnionView> {
    return this.onionControls().add(name, publicKey, by);
  }

  removeOnionClient(name: string): Promise<OnionView> {
    return this.onionControls().remove(name);
  }

  private onionControls(): OnionService {
    const onion = this.options.onion;
    if (!onion) throw new ControlError('not-found', 'this host publishes no onion service (agent.onion)');
    return onion.service;
  }

  private onionLaunch(): OnionLaunch | undefined {
    const onion = this.options.onion;
    return onion && { files: onion.service.files(), doors: onion.doors, socat: onion.socat };
  }

  // A running VM's last report line of a kind (`MVOS-ONION`, `MVOS-TOR`); undefined when it is not running.
  guestReport(name: string, word: string): string | undefined {
    return this.slots.get(name)?.instance?.reports.get(word);
  }

  // Sends a ready VM one line over its health channel and resolves with its reply; undefined when it is not ready.
  async guestRequest(name: string, line: string, reply: RegExp, timeoutMs: number): Promise<string | undefined> {
    const slot = this.slots.get(name);
    if (!slot?.instance || slot.record.state !== 'ready') return undefined;
    return slot.instance.request(line, reply, timeoutMs);
  }

  private netControls(): NetControls {
    if (!this.net) throw new ControlError('conflict', 'the agent is still starting');
    return this.net;
  }

  rescueState(): RescueState {
    return this.rescueInfo;
  }

  async hostFacts(): Promise<HostFacts> {
    return hostFacts(this.config, {
      accel: this.options.accel,
      accelReason: this.options.accelReason,
      agentVersion: this.options.agentVersion,
      topology: this.topology ?? (await readTopology(this.options.sysfs)),
      rescue: this.rescueInfo,
      qemu: this.options.qemu,
    });
  }
}
