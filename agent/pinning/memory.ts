// Where a pinned VM's memory lives: bound to the NUMA node of its vCPUs (remote memory costs every access), on 2 MiB
// hugepages when the recipe asks or the node has enough free.
import type { MemoryPlacement } from '../controls.ts';
import type { CpuTopology } from './topology.ts';

// The hugepage size QEMU is given (the x86 default size; 1 GiB pages need boot-time reservation we do not assume).
export const HUGEPAGE_MIB = 2;

// Plans the placement of `memoryMiB` for a VM whose vCPUs run on `cpus`.
export function planMemory(
  topology: CpuTopology,
  cpus: readonly number[],
  memoryMiB: number,
  hugepages: 'auto' | 'on' | 'off',
): MemoryPlacement {
  const indexes = [...new Set(cpus.map((cpu) => topology.nodes.findIndex((node) => node.includes(cpu))))].filter(
    (i) => i >= 0,
  );
  const single = indexes.length === 1 ? indexes[0] : undefined;
  const needed = Math.ceil(memoryMiB / HUGEPAGE_MIB);
  const free = single !== undefined ? (topology.hugepagesFree[single] ?? 0) : 0;
  const huge = hugepages === 'on' || (hugepages === 'auto' && single !== undefined && free >= needed);
  const pages = huge
    ? `${needed} hugepages of ${HUGEPAGE_MIB} MiB`
    : hugepages === 'off'
      ? 'normal pages (hugepages off)'
      : `normal pages (${free} free hugepages, ${needed} needed)`;
  const shortfall =
    hugepages === 'on' && free < needed
      ? `; only ${free} of ${needed} hugepages are free there, so QEMU may fail to start`
      : '';
  if (topology.nodes.length <= 1)
    return { policy: 'default', hugepages: huge, note: `one NUMA node: memory not bound; ${pages}${shortfall}` };
  if (single === undefined)
    return {
      policy: 'default',
      hugepages: huge,
      note: `vCPUs span NUMA nodes ${indexes.map((i) => topology.nodeIds[i]).join(', ')}: memory not bound; ${pages}${shortfall}`,
    };
  const node = topology.nodeIds[single] ?? single;
  return {
    policy: 'bind',
    node,
    hugepages: huge,
    note: `bound to NUMA node ${node} (its vCPUs' node); ${pages}${shortfall}`,
  };
}
