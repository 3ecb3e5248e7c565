// The VM supervisor: starts the controller pinned to its cores, watches every VM, restarts with back-off, falls back to rescue, re-attaches after an agent restart.
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostConfig, VmConfig } from '../config.ts';
import { ControlError, type CheckpointView, type ContainerRequest, type Controls, type HostFacts, type RescueState, type VmView } from '../controls.ts';
import { novmSpec } from '../launch/novm.ts';
import { readableFormat, startQemu, vmPaths, vmSpec, type VmPaths } from '../launch/vm.ts';
import type { CheckpointStore } from '../checkpoints/store.ts';
import { sweepEphemeral } from '../disks/ephemeral.ts';
import { dropEphemeral, ephemeralDisk, openStore } from './disks.ts';
import { containerScratch, containerVm, prepareContainer } from './containers.ts';
import { applyPinning } from '../pinning/apply.ts';
import { describePlan, planPinning } from '../pinning/plan.ts';
import { readTopology, type CpuTopology } from '../pinning/topology.ts';
import { isOurQemu, readPidfile, VmInstance } from './instance.ts';
import { emptyRecord, readRecord, withEvent, writeRecord, type VmRecord } from './record.ts';
import { hostFacts } from './facts.ts';
import { describeWindow, judgeFailure } from './restart-policy.ts';
import { consoleFiles, openConsole } from '../console/reader.ts';
import { consoleText } from '../console/text.ts';
import { ConsoleBroker, socketInput, type ConsoleSession, type ConsoleViewer } from '../console/broker.ts';

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
}

interface Slot {
  vm: VmConfig;
  paths: VmPaths;
  record: VmRecord;
  instance?: VmInstance;
  // The VM's disk checkpoints (persistent `vm` VMs with a disk).
  store?: CheckpointStore;
  deadline?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  // Operations on one VM run one after the other.
  queue: Promise<unknown>;
}

function newSlot(vm: VmConfig, paths: VmPaths, record: VmRecord): Slot {
  return { vm, paths, record, queue: Promise.resolve() };
}

// Runs the host's VMs and answers the agent's controls.
export class Supervisor implements Controls {
  private readonly slots = new Map<string, Slot>();
  private readonly brokers = new Map<string, ConsoleBroker>();
  private rescueInfo: RescueState = { active: false };
  private topology: CpuTopology | undefined;
  private closing = false;

  constructor(
    private readonly config: HostConfig,
    private readonly options: SupervisorOptions,
  ) {
    for (const vm of config.vms) {
      const paths = vmPaths(options.stateDir, vm.name);
      this.slots.set(vm.name, newSlot(vm, paths, emptyRecord(vm.name)));
    }
  }

  private get supervisorFile(): string {
    return join(this.options.stateDir, 'supervisor.json');
  }

  // Re-attaches to VMs that still run, plans pinning, then starts the controller and autostart VMs that are not running.
  async start(): Promise<void> {
    await mkdir(join(this.options.stateDir, 'vms'), { recursive: true, mode: 0o700 });
    this.topology = await readTopology(this.options.sysfs);
    this.rescueInfo = await readFile(this.supervisorFile, 'utf8').then((t) => JSON.parse(t) as RescueState, () => ({ active: false }));
    for (const slot of this.slots.values()) {
      await mkdir(slot.paths.dir, { recursive: true, mode: 0o700 });
      slot.record = await readRecord(slot.paths.dir, slot.vm.name);
    }
    // VMs launched on request (containers) are known only from their records.
    for (const name of await readdir(join(this.options.stateDir, 'vms')).catch(() => [] as string[])) {
      if (this.slots.has(name)) continue;
      const paths = vmPaths(this.options.stateDir, name);
      const record = await readRecord(paths.dir, name);
      if (record.spec) this.slots.set(name, newSlot(record.spec, paths, record));
    }
    this.planAll();
    // Re-attach first: a store opened under a running VM must know its QMP (QEMU owns the open layers).
    for (const slot of this.slots.values()) await this.reattach(slot);
    for (const slot of this.slots.values()) {
      // A disk that cannot be opened fails its VM when it starts (and the controller falls back); the agent stays up.
      await this.ensureStore(slot).catch((error: Error) => this.options.log(`${slot.vm.name}: its disk could not be opened: ${error.message}`));
    }
    // Unpacked container images whose VM is gone go too.
    for (const name of await readdir(join(this.options.stateDir, 'containers')).catch(() => [] as string[])) {
      if (!this.slots.get(name)?.instance) await rm(containerScratch(this.options.stateDir, name), { recursive: true, force: true });
    }
    // After re-attaching: layers a live QEMU holds stay, everything a crashed agent left behind goes.
    const swept = await sweepEphemeral(this.options.stateDir);
    if (swept.removed.length > 0) this.options.log(`ephemeral layers removed: ${swept.removed.join(', ')}`);
    const controller = this.config.vms.find((vm) => vm.role === 'controller');
    const fallback = controller?.fallback ? this.slots.get(controller.fallback) : undefined;
    const onRescue = this.rescueInfo.active && fallback?.instance !== undefined;
    for (const slot of this.slots.values()) {
      if (slot.instance) continue;
      const wanted = slot.vm.role === 'controller' ? !onRescue : slot.vm.autostart || (slot.vm.role === 'rescue' && onRescue);
      // Not startVm: an agent restart is no fresh start for a VM that keeps failing (its window's count stays).
      if (wanted) void this.queued(slot, () => (slot.instance ? Promise.resolve() : this.launch(slot, 'agent start'))).catch((error) => this.options.log(`${slot.vm.name}: ${(error as Error).message}`));
    }
  }

  private planAll(): void {
    const requests = this.config.vms
      .filter((vm) => vm.role === 'controller' || vm.pin)
      .sort((a, b) => Number(b.role === 'controller') - Number(a.role === 'controller'))
      .map((vm) => ({ name: vm.name, vcpus: vm.cpus, memoryMiB: vm.memoryMiB, hugepages: vm.hugepages, ...(vm.pin ? { pin: vm.pin } : {}) }));
    const plans = planPinning(this.topology!, this.config.housekeeping, requests);
    for (const [name, plan] of plans) {
      this.options.log(`pinning plan: ${describePlan(name, plan)}`);
      const slot = this.slots.get(name)!;
      // A VM that still runs keeps the plan it was pinned with (its thread ids are in it).
      if (!slot.record.pinning || slot.record.state === 'stopped' || slot.record.state === 'failed') slot.record = { ...slot.record, pinning: plan };
    }
  }

  private async reattach(slot: Slot): Promise<void> {
    const pid = slot.record.pid ?? (await readPidfile(slot.paths));
    const running = ['starting', 'running', 'ready'].includes(slot.record.state);
    if (pid && running && (await isOurQemu(pid, slot.paths))) {
      this.options.log(`${slot.vm.name}: re-attaching to QEMU pid ${pid} (${slot.record.state})`);
      await this.attach(slot, pid, 're-attached');
      return;
    }
    if (running) await this.save(slot, { ...withEvent(slot.record, 'lost', 'not running when the agent started'), state: 'stopped', pid: undefined, ephemeral: undefined });
  }

  // Opens the VM's checkpoint store once (recovering a half-done operation), live when the VM runs.
  private async ensureStore(slot: Slot): Promise<CheckpointStore | undefined> {
    if (slot.store) return slot.store;
    const live = slot.instance ? { qmp: slot.instance.qmp } : undefined;
    const opened = await openStore(slot.vm, this.options.stateDir, this.options.root, live);
    slot.store = opened?.store;
    const r = opened?.recovery;
    if (r && (r.finished || r.undone || r.removed.length > 0 || r.repaired.length > 0)) this.options.log(`${slot.vm.name}: disk recovered: ${JSON.stringify(r)}`);
    return slot.store;
  }

  private async save(slot: Slot, record: VmRecord): Promise<void> {
    slot.record = record;
    await writeRecord(slot.paths.dir, record);
    this.options.onChange?.();
  }

  private async saveRescue(state: RescueState): Promise<void> {
    this.rescueInfo = state;
    const temporary = `${this.supervisorFile}.tmp`;
    await writeFile(temporary, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    await rename(temporary, this.supervisorFile);
    this.options.onChange?.();
  }

  private slot(name: string): Slot {
    const slot = this.slots.get(name);
    if (!slot) throw new ControlError('not-found', `no VM named "${name}" (this host has ${[...this.slots.keys()].join(', ')})`);
    return slot;
  }

  private queued<T>(slot: Slot, work: () => Promise<T>): Promise<T> {
    const next = slot.queue.then(work, work);
    slot.queue = next.catch(() => undefined);
    return next;
  }

  private async launch(slot: Slot, why: string): Promise<void> {
    const { vm, paths } = slot;
    clearTimeout(slot.restartTimer);
    const now = new Date();
    const deadlineAt = new Date(now.getTime() + vm.health.deadlineSeconds * 1000);
    const record: VmRecord = { ...withEvent(slot.record, 'starting', why, now), state: 'starting', startedAt: now.toISOString(), readyAt: undefined, deadlineAt: deadlineAt.toISOString(), pid: undefined };
    await this.save(slot, record);
    let pid: number;
    try {
      await rm(paths.serialLog, { force: true });
      const qemu = this.options.qemu ? { qemu: this.options.qemu } : {};
      const memory = slot.record.pinning?.memory;
      const base = { root: this.options.root, accel: this.options.accel, paths, ...(memory ? { memory } : {}) };
      if (vm.launch === 'container') {
        const files = slot.record.container;
        if (!files) throw new Error('the container image was not prepared');
        pid = await startQemu(await novmSpec(vm, { ...base, rootDisk: files.rootfs, extraDrives: [files.configDisk], append: 'mvos.config=/dev/vdb' }), paths, qemu);
        await this.launched(slot, pid);
        return;
      }
      if (vm.launch === 'novm') {
        pid = await startQemu(await novmSpec(vm, base), paths, qemu);
        await this.launched(slot, pid);
        return;
      }
      const layer = await ephemeralDisk(vm, this.options.stateDir, this.options.root);
      if (layer) await this.save(slot, { ...slot.record, ephemeral: layer });
      const disk = layer?.disk ?? (await this.ensureStore(slot))?.activeDisk;
      const start = { ...qemu, ...(layer ? { pidfile: layer.pidFile } : {}) };
      const repairDisks = vm.role === 'rescue' ? await this.repairDisks(vm) : [];
      const spec = await vmSpec(vm, { ...base, ...(disk ? { disk } : {}), repairDisks });
      pid = await startQemu(spec, paths, start).catch(async (error: Error) => {
        if (repairDisks.length === 0) throw error;
        // Rescue must come up whatever state the broken disks are in: without them, then.
        this.options.log(`${vm.name}: starting without the disks to repair (${error.message})`);
        return startQemu(await vmSpec(vm, { ...base, ...(disk ? { disk } : {}) }), paths, start);
      });
    } catch (error) {
      await this.failed(slot, (error as Error).message);
      return;
    }
    await this.launched(slot, pid);
  }

  private async launched(slot: Slot, pid: number): Promise<void> {
    const record = { ...slot.record, pid, serialOffset: 0, state: 'running' as const };
    await this.save(slot, withEvent(record, 'started', `QEMU pid ${pid}, ${slot.vm.launch}, ${this.options.accel}`));
    await this.attach(slot, pid, undefined);
  }

  // The disks of the stopped VMs that fall back to this rescue VM: rescue gets them to inspect and repair.
  private async repairDisks(rescue: VmConfig): Promise<Array<{ file: string; format: 'qcow2' | 'raw' }>> {
    const disks: Array<{ file: string; format: 'qcow2' | 'raw' }> = [];
    for (const slot of this.slots.values()) {
      const file = slot.store?.activeDisk;
      if (slot.vm.fallback !== rescue.name || slot.instance || !file) continue;
      if (await access(file).then(() => true, () => false)) disks.push({ file, format: await readableFormat(file) });
    }
    return disks;
  }

  private async attach(slot: Slot, pid: number, event: string | undefined): Promise<void> {
    const instance = new VmInstance(pid, slot.paths, {
      ready: (source) => void this.queued(slot, () => this.ready(slot, instance, source)),
      failed: (reason) => void this.queued(slot, () => (slot.instance === instance ? this.failed(slot, reason) : Promise.resolve())),
      poweredOff: () => void this.queued(slot, () => (slot.instance === instance ? this.poweredOff(slot) : Promise.resolve())),
      exited: (code) => void this.queued(slot, () => this.save(slot, { ...withEvent(slot.record, 'exited', `exit code ${code}`), result: { exitCode: code, at: new Date().toISOString() } })),
      serialOffset: (offset) => {
        slot.record = { ...slot.record, serialOffset: offset };
      },
    });
    slot.instance = instance;
    try {
      await instance.attach({ marker: slot.vm.health.marker, serialOffset: slot.record.serialOffset, heartbeatTimeoutMs: slot.vm.health.heartbeatSeconds * 1000, hangTimeoutMs: slot.vm.health.hangSeconds * 1000 });
      slot.store?.setLive({ qmp: instance.qmp });
      if (slot.record.pinning) {
        const applied = await applyPinning(pid, slot.record.pinning, instance.qmp);
        await this.save(slot, withEvent({ ...slot.record, pinning: applied }, 'pinned', describePlan(slot.vm.name, applied)));
      }
    } catch (error) {
      await this.failed(slot, `could not attach to QEMU: ${(error as Error).message}`);
      return;
    }
    if (event) await this.save(slot, withEvent(slot.record, event, `QEMU pid ${pid}`));
    this.armDeadline(slot);
  }

  private armDeadline(slot: Slot): void {
    clearTimeout(slot.deadline);
    if (slot.record.state !== 'starting' && slot.record.state !== 'running') return;
    const left = Date.parse(slot.record.deadlineAt ?? '') - Date.now();
    const instance = slot.instance;
    slot.deadline = setTimeout(() => {
      void this.queued(slot, async () => {
        if (slot.instance !== instance || slot.record.state === 'ready') return;
        await this.failed(slot, `no ready report within its deadline of ${slot.vm.health.deadlineSeconds} s (marker "${slot.vm.health.marker}")`);
      });
    }, Math.max(0, left));
  }

  private async ready(slot: Slot, instance: VmInstance, source: string): Promise<void> {
    if (slot.instance !== instance || slot.record.state === 'ready') return;
    clearTimeout(slot.deadline);
    const now = new Date();
    const took = slot.record.startedAt ? ` after ${((now.getTime() - Date.parse(slot.record.startedAt)) / 1000).toFixed(1)} s` : '';
    this.options.log(`${slot.vm.name}: ready (${source})${took}`);
    // The failure count stays: a VM that comes up and then keeps failing must still fall back (restart.window).
    await this.save(slot, { ...withEvent(slot.record, 'ready', `${source}${took}`, now), state: 'ready', readyAt: now.toISOString() });
  }

  private async poweredOff(slot: Slot): Promise<void> {
    if (slot.vm.role === 'controller' || slot.vm.role === 'rescue') return this.failed(slot, 'the guest powered itself off');
    await this.stopInstance(slot, 0);
    await this.save(slot, { ...withEvent(slot.record, 'stopped', 'the guest powered off'), state: 'stopped', pid: undefined });
  }

  private async stopInstance(slot: Slot, graceMs: number): Promise<void> {
    clearTimeout(slot.deadline);
    const instance = slot.instance;
    slot.instance = undefined;
    await instance?.stop(graceMs);
    slot.store?.setLive(undefined);
    if (slot.record.container) {
      await rm(slot.record.container.scratch, { recursive: true, force: true });
      slot.record = { ...slot.record, container: undefined };
    }
    const layer = slot.record.ephemeral;
    if (layer) {
      await dropEphemeral(layer).catch((error: Error) => this.options.log(`${slot.vm.name}: ephemeral disk: ${error.message}`));
      slot.record = { ...slot.record, ephemeral: undefined };
    }
  }

  // Records why a VM failed, stops what is left of it, then restarts it with back-off or, past its restart window's
  // count, falls back.
  private async failed(slot: Slot, reason: string): Promise<void> {
    const { vm } = slot;
    // When it failed, not when what was left of it was cleaned up (a hung QEMU takes seconds to kill).
    const now = new Date();
    this.options.log(`${vm.name}: failed: ${reason}`);
    await this.stopInstance(slot, 0);
    const verdict = judgeFailure(vm.restart, slot.record.failureTimes ?? [], now, vm.role === 'rescue');
    const failures = verdict.failures;
    await this.save(slot, { ...withEvent(slot.record, 'failed', reason, now), state: 'failed', pid: undefined, failure: { reason, at: now.toISOString() }, failures, failureTimes: verdict.recent });
    if (this.closing) return;
    if (verdict.restart) {
      const seconds = verdict.delaySeconds;
      const of = vm.role === 'rescue' ? '' : ` of ${vm.restart.attempts + 1} in ${describeWindow(vm.restart.windowSeconds)}`;
      await this.save(slot, withEvent(slot.record, 'restart scheduled', `in ${seconds} s (failure ${failures}${of})`));
      slot.restartTimer = setTimeout(() => void this.queued(slot, () => (slot.record.state === 'failed' ? this.launch(slot, `restart after failure ${failures}`) : Promise.resolve())), seconds * 1000);
      return;
    }
    this.options.log(`${vm.name}: not restarted again: ${verdict.rule}`);
    await this.save(slot, withEvent(slot.record, 'gave up', verdict.rule));
    if (vm.fallback) await this.fallBack(vm, `${verdict.rule}; last: ${reason}`);
  }

  private async fallBack(vm: VmConfig, reason: string): Promise<void> {
    const target = this.slot(vm.fallback!);
    this.options.log(`${vm.name}: falling back to ${target.vm.name}: ${reason}`);
    await this.saveRescue({ active: true, reason: `${vm.name} failed: ${reason}`, since: new Date().toISOString() });
    const slot = this.slot(vm.name);
    await this.save(slot, withEvent(slot.record, 'fallback', `${target.vm.name} started instead`));
    if (!target.instance) void this.queued(target, () => this.launch(target, `fallback for ${vm.name}`));
  }

  // Stops watching without stopping the VMs (the agent is exiting; they keep running and a new agent re-attaches).
  async detachAll(): Promise<void> {
    this.closing = true;
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
    this.closing = true;
    await Promise.all([...this.slots.values()].map((slot) => this.queued(slot, async () => {
      clearTimeout(slot.restartTimer);
      if (!slot.instance) return;
      await this.stopInstance(slot, this.options.stopGraceMs ?? 10_000);
      await this.save(slot, { ...withEvent(slot.record, 'stopped', 'host shutdown'), state: 'stopped', pid: undefined });
    })));
  }

  private view(slot: Slot): VmView {
    const r = slot.record;
    return {
      name: slot.vm.name,
      role: slot.vm.role,
      launch: slot.vm.launch,
      state: r.state,
      ...(r.pid ? { pid: r.pid } : {}),
      ...(r.startedAt ? { startedAt: r.startedAt } : {}),
      ...(r.readyAt ? { readyAt: r.readyAt } : {}),
      ephemeral: slot.vm.ephemeral,
      autostart: slot.vm.autostart,
      ...(r.pinning ? { pinning: r.pinning } : {}),
      ...(r.failure ? { failure: r.failure } : {}),
      ...(r.result ? { result: r.result } : {}),
      history: r.history,
    };
  }

  listVms(): VmView[] {
    return [...this.slots.values()].map((slot) => this.view(slot));
  }

  getVm(name: string): VmView | undefined {
    const slot = this.slots.get(name);
    return slot && this.view(slot);
  }

  async startVm(name: string): Promise<VmView> {
    const slot = this.slot(name);
    await this.queued(slot, async () => {
      if (slot.instance) throw new ControlError('conflict', `${name} is already ${slot.record.state}`);
      // A person starting it again is a fresh start: earlier failures no longer count toward its fallback.
      slot.record = { ...slot.record, failures: 0, failureTimes: [] };
      await this.launch(slot, 'start requested');
    });
    return this.view(slot);
  }

  async stopVm(name: string): Promise<VmView> {
    const slot = this.slot(name);
    await this.queued(slot, async () => {
      clearTimeout(slot.restartTimer);
      if (!slot.instance) {
        if (slot.record.state === 'failed') await this.save(slot, withEvent({ ...slot.record, state: 'stopped' }, 'stopped', 'stop requested'));
        return;
      }
      await this.save(slot, { ...slot.record, state: 'stopping' });
      await this.stopInstance(slot, this.options.stopGraceMs ?? 10_000);
      await this.save(slot, { ...withEvent(slot.record, 'stopped', 'stop requested'), state: 'stopped', pid: undefined });
    });
    return this.view(slot);
  }

  async restartVm(name: string): Promise<VmView> {
    await this.stopVm(name);
    return this.startVm(name);
  }

  // The tail is read by seeking (its cost does not grow with the log); without tailBytes, all the capped log keeps.
  async consoleLog(name: string, options: { tailBytes?: number } = {}): Promise<string> {
    const feed = openConsole(consoleFiles(this.slot(name).paths));
    try {
      return consoleText(await feed.tail(options.tailBytes));
    } finally {
      void feed.release();
    }
  }

  // Every viewer subscribes to the VM's one console reader: new output is read once, however many watch.
  followConsole(name: string, onData: (chunk: Buffer) => void): () => void {
    const feed = openConsole(consoleFiles(this.slot(name).paths));
    feed.subscribe((chunk) => onData(chunk));
    return () => void feed.release();
  }

  // One broker per VM, made on first use: output from the VM's one reader, input on QEMU's console socket (connected
  // while someone holds the keyboard).
  openConsole(name: string, viewer: ConsoleViewer, options: { write?: boolean; force?: boolean; back?: number } = {}): ConsoleSession {
    const slot = this.slot(name);
    let broker = this.brokers.get(name);
    if (!broker) {
      broker = new ConsoleBroker(name, {
        follow: (listener, back) => {
          const feed = openConsole(consoleFiles(slot.paths));
          feed.subscribe((chunk) => listener(chunk), { back });
          return () => void feed.release();
        },
        connect: () => socketInput(slot.paths.console),
      });
      this.brokers.set(name, broker);
    }
    return broker.open(viewer, options);
  }

  private store(name: string): CheckpointStore {
    const slot = this.slot(name);
    if (slot.store) return slot.store;
    const why = slot.vm.ephemeral ? 'it is ephemeral (its disk lives only while it runs)' : slot.vm.launch !== 'vm' ? `launch ${slot.vm.launch} shares a read-only root` : 'it has no disk';
    throw new ControlError('invalid', `${name} has no checkpoints: ${why}`);
  }

  async listCheckpoints(name: string): Promise<CheckpointView[]> {
    return this.store(name).list();
  }

  async createCheckpoint(name: string, label?: string): Promise<CheckpointView> {
    const store = this.store(name);
    const slot = this.slot(name);
    const view = await this.queued(slot, () => store.create(label));
    await this.save(slot, withEvent(slot.record, 'checkpoint', `${view.id}${label ? ` (${label})` : ''}${slot.instance ? ', live' : ''}`));
    return view;
  }

  async rollback(name: string, id: string, options: { restart?: boolean } = {}): Promise<void> {
    const store = this.store(name);
    const slot = this.slot(name);
    const running = slot.instance !== undefined;
    if (running && !options.restart) throw new ControlError('conflict', `${name} is running: stop it first, or ask for a restart with the rollback`);
    if (running) await this.stopVm(name);
    await this.queued(slot, () => store.rollback(id));
    await this.save(slot, withEvent(slot.record, 'rollback', `to checkpoint ${id}`));
    if (running) await this.startVm(name);
  }

  async pinCheckpoint(name: string, id: string, pinned: boolean): Promise<void> {
    await this.store(name).pin(id, pinned);
  }

  async deleteCheckpoint(name: string, id: string): Promise<void> {
    const slot = this.slot(name);
    const store = this.store(name);
    await this.queued(slot, () => store.delete(id));
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
    if (this.config.vms.some((own) => own.name === vm.name)) throw new ControlError('conflict', `${vm.name} is one of the host's own VMs; name the container otherwise`);
    // The slot is taken before anything awaits, so two launches of one name meet in its queue, where the second sees
    // the first (checked outside it, the second deleted the first's files and orphaned its QEMU).
    const paths = vmPaths(this.options.stateDir, vm.name);
    const slot: Slot = existing ?? newSlot(vm, paths, emptyRecord(vm.name));
    this.slots.set(vm.name, slot);
    await this.queued(slot, async () => {
      if (slot.instance || slot.record.container) throw new ControlError('conflict', `${vm.name} is already ${slot.record.state}`);
      slot.vm = vm;
      await mkdir(paths.dir, { recursive: true, mode: 0o700 });
      const container = await prepareContainer(this.options.stateDir, request).catch((error: unknown) => {
        // A name that never ran leaves no slot behind.
        if (!slot.record.spec && !slot.instance) this.slots.delete(vm.name);
        throw error;
      });
      await this.save(slot, { ...emptyRecord(vm.name), history: slot.record.history, spec: vm, container });
      await this.launch(slot, `container ${request.image}`);
    });
    return this.view(slot);
  }

  rescueState(): RescueState {
    return this.rescueInfo;
  }

  async hostFacts(): Promise<HostFacts> {
    return hostFacts(this.config, { accel: this.options.accel, accelReason: this.options.accelReason, agentVersion: this.options.agentVersion, topology: this.topology ?? (await readTopology(this.options.sysfs)), rescue: this.rescueInfo, qemu: this.options.qemu });
  }
}
