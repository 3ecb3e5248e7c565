// One VM as the supervisor holds it: its config, files and record, its live QEMU and checkpoint store, and its queue.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialQueue } from '../../common/serial-queue.ts';
import type { CheckpointStore } from '../checkpoints/store.ts';
import type { VmConfig } from '../config.ts';
import { ControlError, type VmView } from '../controls.ts';
import { type VmPaths, vmPaths } from '../launch/vm.ts';
import type { VmInstance } from './instance.ts';
import { emptyRecord, readRecord, type VmRecord } from './record.ts';

// A VM in the supervisor: what must outlive the agent is in record, the rest lives as long as the agent.
export interface Slot {
  vm: VmConfig;
  paths: VmPaths;
  record: VmRecord;
  instance?: VmInstance;
  // The VM's disk checkpoints (persistent `vm` VMs with a disk).
  store?: CheckpointStore;
  deadline?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  // Operations on one VM run one after the other.
  queue: SerialQueue;
}

// A slot for a VM whose record is read (a fresh one until then).
export function newSlot(vm: VmConfig, paths: VmPaths, record: VmRecord = emptyRecord(vm.name)): Slot {
  return { vm, paths, record, queue: new SerialQueue() };
}

// Slots, by folder name, for VMs launched on request (containers): known only from the records they left in
// stateDir/vms.
export async function recordedSlots(stateDir: string, known: (name: string) => boolean): Promise<Map<string, Slot>> {
  const slots = new Map<string, Slot>();
  for (const name of await readdir(join(stateDir, 'vms')).catch(() => [] as string[])) {
    if (known(name)) continue;
    const paths = vmPaths(stateDir, name);
    const record = await readRecord(paths.dir, name);
    if (record.spec) slots.set(name, newSlot(record.spec, paths, record));
  }
  return slots;
}

// The slot of the VM named so; a name the host does not have is a not-found control error.
export function slotNamed(slots: ReadonlyMap<string, Slot>, name: string): Slot {
  const slot = slots.get(name);
  if (!slot)
    throw new ControlError('not-found', `no VM named "${name}" (this host has ${[...slots.keys()].join(', ')})`);
  return slot;
}

// The VM as the controls show it.
export function vmView(slot: Slot): VmView {
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
