// The supervisor's pinning plan: the controller first, then every VM that names cores, planned over the host's CPUs.
import type { HostConfig } from '../config.ts';
import { describePlan, planPinning } from '../pinning/plan.ts';
import type { CpuTopology } from '../pinning/topology.ts';
import type { Slot } from './slot.ts';

// Puts each planned VM's plan in its record, except a VM that still runs: it keeps the plan it was pinned with (its
// thread ids are in it).
export function planSlots(
  config: HostConfig,
  topology: CpuTopology,
  slots: ReadonlyMap<string, Slot>,
  log: (line: string) => void,
): void {
  const requests = config.vms
    .filter((vm) => vm.role === 'controller' || vm.pin)
    .sort((a, b) => Number(b.role === 'controller') - Number(a.role === 'controller'))
    .map((vm) => ({
      name: vm.name,
      vcpus: vm.cpus,
      memoryMiB: vm.memoryMiB,
      hugepages: vm.hugepages,
      ...(vm.pin ? { pin: vm.pin } : {}),
    }));
  for (const [name, plan] of planPinning(topology, config.housekeeping, requests)) {
    log(`pinning plan: ${describePlan(name, plan)}`);
    const slot = slots.get(name)!;
    if (!slot.record.pinning || slot.record.state === 'stopped' || slot.record.state === 'failed')
      slot.record = { ...slot.record, pinning: plan };
  }
}
