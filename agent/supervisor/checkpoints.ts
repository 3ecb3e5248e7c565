// The checkpoint controls of the host's VMs: changes to a VM's store take their turn in its queue and are told in its
// history.
import type { CheckpointStore } from '../checkpoints/store.ts';
import { type CheckpointView, ControlError } from '../controls.ts';
import { type VmRecord, withEvent } from './record.ts';
import type { Slot } from './slot.ts';

// What the checkpoint controls need of the supervisor.
export interface CheckpointHost {
  slot(name: string): Slot;
  save(slot: Slot, record: VmRecord): Promise<void>;
  stopVm(name: string): Promise<unknown>;
  startVm(name: string): Promise<unknown>;
}

// A VM's checkpoint store; a VM without one is told why it has none.
function storeOf(slot: Slot): CheckpointStore {
  if (slot.store) return slot.store;
  const { vm } = slot;
  const why = vm.ephemeral
    ? 'it is ephemeral (its disk lives only while it runs)'
    : vm.launch !== 'vm'
      ? `launch ${vm.launch} shares a read-only root`
      : 'it has no disk';
  throw new ControlError('invalid', `${vm.name} has no checkpoints: ${why}`);
}

// Lists, creates, rolls back to, pins and deletes a VM's checkpoints.
export class CheckpointControls {
  constructor(private readonly host: CheckpointHost) {}

  async list(name: string): Promise<CheckpointView[]> {
    return storeOf(this.host.slot(name)).list();
  }

  async create(name: string, label?: string): Promise<CheckpointView> {
    const slot = this.host.slot(name);
    const store = storeOf(slot);
    const view = await slot.queue.run(() => store.create(label));
    await this.host.save(
      slot,
      withEvent(slot.record, 'checkpoint', `${view.id}${label ? ` (${label})` : ''}${slot.instance ? ', live' : ''}`),
    );
    return view;
  }

  // A running VM is rolled back only when a restart is asked for with it: stopped, rolled back, started again.
  async rollback(name: string, id: string, options: { restart?: boolean } = {}): Promise<void> {
    const slot = this.host.slot(name);
    const store = storeOf(slot);
    const running = slot.instance !== undefined;
    if (running && !options.restart)
      throw new ControlError('conflict', `${name} is running: stop it first, or ask for a restart with the rollback`);
    if (running) await this.host.stopVm(name);
    await slot.queue.run(() => store.rollback(id));
    await this.host.save(slot, withEvent(slot.record, 'rollback', `to checkpoint ${id}`));
    if (running) await this.host.startVm(name);
  }

  async pin(name: string, id: string, pinned: boolean): Promise<void> {
    await storeOf(this.host.slot(name)).pin(id, pinned);
  }

  async delete(name: string, id: string): Promise<void> {
    const slot = this.host.slot(name);
    const store = storeOf(slot);
    await slot.queue.run(() => store.delete(id));
  }
}
