// A VM's life under the supervisor: launched, watched, and its QEMU's events turned into records, restarts with
// back-off and fallbacks; every step runs in the VM's queue.
import { rm } from 'node:fs/promises';
import type { CheckpointStore } from '../checkpoints/store.ts';
import type { NetworksConfig } from '../config.ts';
import type { RescueState } from '../controls.ts';
import type { OnionLaunch } from '../net/links.ts';
import { applyPinning } from '../pinning/apply.ts';
import { describePlan } from '../pinning/plan.ts';
import type { VaultService } from '../vault/service.ts';
import { vmRequests } from '../vault/vm-requests.ts';
import { dropEphemeral, openStore } from './disks.ts';
import { VmInstance } from './instance.ts';
import { type LaunchNeeds, launchQemu } from './launch.ts';
import { type VmRecord, withEvent, writeRecord } from './record.ts';
import { describeRestart, judgeFailure, type RestartVerdict } from './restart-policy.ts';
import { type Slot, slotNamed } from './slot.ts';

// What the lifecycle needs of the supervisor: its settings, and where the rescue state is kept.
export interface LifecycleOptions {
  stateDir: string;
  root: string;
  accel: 'kvm' | 'tcg';
  qemu?: string;
  log: (line: string) => void;
  onChange?: () => void;
  // Called when a VM falls back: the host is on rescue from then on.
  saveRescue: (state: RescueState) => Promise<void>;
  // The host's networks as they are now (links and routers, with the rule changes made since the build).
  networks?: () => NetworksConfig | undefined;
  // The key that opens the VPN networks' provider files.
  secretKeyFile?: string;
  // The onion service's files and doors as they are now (undefined: the host publishes none).
  onion?: () => OnionLaunch | undefined;
  // The host vault: what each VM may ask for over its own secrets channel.
  vault?: Pick<VaultService, 'secretForVm' | 'unlock' | 'drill'>;
}

// Launches the host's VMs and reacts to what their QEMUs report.
export class VmLifecycle {
  // Set once the agent stops or detaches: failures are recorded, nothing is restarted.
  closing = false;

  constructor(
    private readonly slots: ReadonlyMap<string, Slot>,
    private readonly options: LifecycleOptions,
  ) {}

  // Records the VM's new state on disk before anyone is told.
  async save(slot: Slot, record: VmRecord): Promise<void> {
    slot.record = record;
    await writeRecord(slot.paths.dir, record);
    this.options.onChange?.();
  }

  // Opens the VM's checkpoint store once (recovering a half-done operation), live when the VM runs.
  async ensureStore(slot: Slot): Promise<CheckpointStore | undefined> {
    if (slot.store) return slot.store;
    const live = slot.instance ? { qmp: slot.instance.qmp } : undefined;
    const opened = await openStore(slot.vm, this.options.stateDir, this.options.root, live);
    slot.store = opened?.store;
    const r = opened?.recovery;
    if (r && (r.finished || r.undone || r.removed.length > 0 || r.repaired.length > 0))
      this.options.log(`${slot.vm.name}: disk recovered: ${JSON.stringify(r)}`);
    return slot.store;
  }

  // Starts the VM's QEMU and watches it; a launch that fails is the VM's failure.
  async launch(slot: Slot, why: string): Promise<void> {
    clearTimeout(slot.restartTimer);
    const now = new Date();
    const deadlineAt = new Date(now.getTime() + slot.vm.health.deadlineSeconds * 1000);
    const record: VmRecord = {
      ...withEvent(slot.record, 'starting', why, now),
      state: 'starting',
      startedAt: now.toISOString(),
      readyAt: undefined,
      deadlineAt: deadlineAt.toISOString(),
      pid: undefined,
    };
    await this.save(slot, record);
    let pid: number;
    try {
      pid = await launchQemu(slot, this.launchNeeds(slot));
    } catch (error) {
      await this.onFailed(slot, (error as Error).message);
      return;
    }
    await this.onStarted(slot, pid);
  }

  // Watches a running QEMU: its events take their turn in the VM's queue, and those of a QEMU since replaced are
  // dropped.
  async attach(slot: Slot, pid: number, event: string | undefined): Promise<void> {
    const current = (): boolean => slot.instance === instance;
    const instance = new VmInstance(pid, slot.paths, {
      onReady: (source) => void slot.queue.run(() => this.onReady(slot, instance, source)),
      onFailed: (reason) => void slot.queue.run(() => (current() ? this.onFailed(slot, reason) : Promise.resolve())),
      onPoweredOff: () => void slot.queue.run(() => (current() ? this.onPoweredOff(slot) : Promise.resolve())),
      onExited: (code) => void slot.queue.run(() => this.onExited(slot, code)),
      onSerialOffset: (offset) => {
        slot.record = { ...slot.record, serialOffset: offset };
      },
    });
    slot.instance = instance;
    const vault = this.options.vault;
    try {
      await instance.attach({
        marker: slot.vm.health.marker,
        serialOffset: slot.record.serialOffset,
        heartbeatTimeoutMs: slot.vm.health.heartbeatSeconds * 1000,
        hangTimeoutMs: slot.vm.health.hangSeconds * 1000,
        // A container is named by whoever starts it: it could take the name of a VM the recipe does not define and
        // claim that name's secrets, so it gets no answers from the vault.
        ...(vault && slot.vm.launch !== 'container' ? { secrets: vmRequests(vault, slot.vm) } : {}),
      });
      slot.store?.setLive({ qmp: instance.qmp });
      if (slot.record.pinning) {
        const applied = await applyPinning(pid, slot.record.pinning, instance.qmp);
        await this.save(
          slot,
          withEvent({ ...slot.record, pinning: applied }, 'pinned', describePlan(slot.vm.name, applied)),
        );
      }
    } catch (error) {
      await this.onFailed(slot, `could not attach to QEMU: ${(error as Error).message}`);
      return;
    }
    if (event) await this.save(slot, withEvent(slot.record, event, `QEMU pid ${pid}`));
    this.armDeadline(slot);
  }

  // Stops the VM's QEMU (graceMs on the ACPI button first) and removes what lived only as long as it: a container's
  // files, an ephemeral disk.
  async stopInstance(slot: Slot, graceMs: number): Promise<void> {
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
      await dropEphemeral(layer).catch((error: Error) =>
        this.options.log(`${slot.vm.name}: ephemeral disk: ${error.message}`),
      );
      slot.record = { ...slot.record, ephemeral: undefined };
    }
  }

  private launchNeeds(slot: Slot): LaunchNeeds {
    const { root, stateDir, accel, qemu, log, networks, secretKeyFile } = this.options;
    const onion = this.options.onion?.();
    return {
      networks: networks?.(),
      ...(onion ? { onion } : {}),
      ...(secretKeyFile ? { secretKeyFile } : {}),
      root,
      stateDir,
      accel,
      qemu,
      log,
      keepLayer: (layer) => this.save(slot, { ...slot.record, ephemeral: layer }),
      storeDisk: async () => (await this.ensureStore(slot))?.activeDisk,
      slots: this.slots.values(),
    };
  }

  private async onStarted(slot: Slot, pid: number): Promise<void> {
    const record = { ...slot.record, pid, serialOffset: 0, state: 'running' as const };
    await this.save(slot, withEvent(record, 'started', `QEMU pid ${pid}, ${slot.vm.launch}, ${this.options.accel}`));
    await this.attach(slot, pid, undefined);
  }

  private armDeadline(slot: Slot): void {
    clearTimeout(slot.deadline);
    if (slot.record.state !== 'starting' && slot.record.state !== 'running') return;
    const left = Date.parse(slot.record.deadlineAt ?? '') - Date.now();
    const instance = slot.instance;
    slot.deadline = setTimeout(() => void slot.queue.run(() => this.onDeadline(slot, instance)), Math.max(0, left));
  }

  private async onDeadline(slot: Slot, instance: VmInstance | undefined): Promise<void> {
    if (slot.instance !== instance || slot.record.state === 'ready') return;
    await this.onFailed(
      slot,
      `no ready report within its deadline of ${slot.vm.health.deadlineSeconds} s (marker "${slot.vm.health.marker}")`,
    );
  }

  private async onReady(slot: Slot, instance: VmInstance, source: string): Promise<void> {
    if (slot.instance !== instance || slot.record.state === 'ready') return;
    clearTimeout(slot.deadline);
    const now = new Date();
    const took = slot.record.startedAt
      ? ` after ${((now.getTime() - Date.parse(slot.record.startedAt)) / 1000).toFixed(1)} s`
      : '';
    this.options.log(`${slot.vm.name}: ready (${source})${took}`);
    // The failure count stays: a VM that comes up and then keeps failing must still fall back (restart.window).
    await this.save(slot, {
      ...withEvent(slot.record, 'ready', `${source}${took}`, now),
      state: 'ready',
      readyAt: now.toISOString(),
    });
  }

  private async onExited(slot: Slot, code: number): Promise<void> {
    await this.save(slot, {
      ...withEvent(slot.record, 'exited', `exit code ${code}`),
      result: { exitCode: code, at: new Date().toISOString() },
    });
  }

  private async onPoweredOff(slot: Slot): Promise<void> {
    if (slot.vm.role === 'controller' || slot.vm.role === 'rescue')
      return this.onFailed(slot, 'the guest powered itself off');
    await this.stopInstance(slot, 0);
    await this.save(slot, {
      ...withEvent(slot.record, 'stopped', 'the guest powered off'),
      state: 'stopped',
      pid: undefined,
    });
  }

  // Records why a VM failed, stops what is left of it, then restarts it with back-off or, past its restart window's
  // count, falls back. The failure and what follows it (restart scheduled, or gave up and fell back) are saved as one
  // record: a reader that sees the state `failed` also sees its outcome, never a moment in between.
  private async onFailed(slot: Slot, reason: string): Promise<void> {
    const { vm } = slot;
    // When it failed, not when what was left of it was cleaned up (a hung QEMU takes seconds to kill).
    const now = new Date();
    this.options.log(`${vm.name}: failed: ${reason}`);
    await this.stopInstance(slot, 0);
    const verdict = judgeFailure(vm.restart, slot.record.failureTimes ?? [], now, vm.role === 'rescue');
    const failed: VmRecord = {
      ...withEvent(slot.record, 'failed', reason, now),
      state: 'failed',
      pid: undefined,
      failure: { reason, at: now.toISOString() },
      failures: verdict.failures,
      failureTimes: verdict.recent,
    };
    if (this.closing) return this.save(slot, failed);
    if (verdict.restart) return this.scheduleRestart(slot, failed, verdict);
    this.options.log(`${vm.name}: not restarted again: ${verdict.rule}`);
    const gaveUp = withEvent(failed, 'gave up', verdict.rule);
    if (!vm.fallback) return this.save(slot, gaveUp);
    await this.fallBack(slot, gaveUp, vm.fallback, `${verdict.rule}; last: ${reason}`);
  }

  private async scheduleRestart(
    slot: Slot,
    failed: VmRecord,
    verdict: Extract<RestartVerdict, { restart: true }>,
  ): Promise<void> {
    await this.save(
      slot,
      withEvent(failed, 'restart scheduled', describeRestart(slot.vm.restart, verdict, slot.vm.role === 'rescue')),
    );
    const restart = (): Promise<void> =>
      slot.record.state === 'failed'
        ? this.launch(slot, `restart after failure ${verdict.failures}`)
        : Promise.resolve();
    slot.restartTimer = setTimeout(() => void slot.queue.run(restart), verdict.delaySeconds * 1000);
  }

  // The host's rescue state is saved first, so whoever sees the fallback in the VM's history also sees it in status.
  private async fallBack(slot: Slot, gaveUp: VmRecord, fallback: string, reason: string): Promise<void> {
    const target = slotNamed(this.slots, fallback);
    this.options.log(`${slot.vm.name}: falling back to ${target.vm.name}: ${reason}`);
    await this.options.saveRescue({
      active: true,
      reason: `${slot.vm.name} failed: ${reason}`,
      since: new Date().toISOString(),
    });
    await this.save(slot, withEvent(gaveUp, 'fallback', `${target.vm.name} started instead`));
    if (!target.instance) void target.queue.run(() => this.launch(target, `fallback for ${slot.vm.name}`));
  }
}
