// The CPU pinning plan: housekeeping keeps its CPUs, each pinned VM gets whole cores on one NUMA node where it can.
import type { PinPlan } from '../controls.ts';
import { planMemory } from './memory.ts';
import { type CpuTopology, formatCpuList } from './topology.ts';

// One VM asking for CPUs: its vCPU count and, when the recipe names them, the exact host CPUs.
export interface PinRequest {
  name: string;
  vcpus: number;
  pin?: number[];
  // With these, the plan also places the VM's memory on its vCPUs' NUMA node.
  memoryMiB?: number;
  hugepages?: 'auto' | 'on' | 'off';
}

interface Pool {
  topology: CpuTopology;
  housekeeping: Set<number>;
  taken: Set<number>;
}

function nodeOf(topology: CpuTopology, cpu: number): number {
  return Math.max(
    0,
    topology.nodes.findIndex((node) => node.includes(cpu)),
  );
}

// Cores with no housekeeping CPU and nothing taken, per NUMA node.
function freeCores(pool: Pool, node: number[]): number[][] {
  return pool.topology.cores.filter((core) =>
    core.every((cpu) => node.includes(cpu) && !pool.housekeeping.has(cpu) && !pool.taken.has(cpu)),
  );
}

interface Choice {
  cpus: number[];
  // Threads kept idle for the VM: the SMT siblings of its cores that no vCPU uses.
  reserved?: number[];
  note?: string;
}

function wholeCores(pool: Pool, vcpus: number): Choice | undefined {
  for (const node of pool.topology.nodes) {
    const choice = takeWhole(freeCores(pool, node), vcpus);
    if (choice) return choice;
  }
  const choice = takeWhole(freeCores(pool, pool.topology.online), vcpus);
  return choice && { ...choice, note: 'spans NUMA nodes: no single node has enough free cores' };
}

// Whole cores in order; with an odd vCPU count on an SMT host, the last core's spare thread stays idle for the VM.
function takeWhole(cores: number[][], vcpus: number): Choice | undefined {
  const used: number[][] = [];
  for (const core of cores) {
    if (used.flat().length >= vcpus) break;
    used.push(core);
  }
  const threads = used.flat();
  if (threads.length < vcpus) return undefined;
  return { cpus: threads.slice(0, vcpus), reserved: threads.slice(vcpus) };
}

function anyFree(pool: Pool, vcpus: number): Choice {
  const free = pool.topology.online.filter((cpu) => !pool.housekeeping.has(cpu) && !pool.taken.has(cpu));
  if (free.length >= vcpus)
    return { cpus: free.slice(0, vcpus), note: 'shares physical cores with other work: not enough whole free cores' };
  const outside = pool.topology.online.filter((cpu) => !pool.housekeeping.has(cpu));
  const from = outside.length > 0 ? outside : pool.topology.online;
  const cpus = Array.from({ length: vcpus }, (_, i) => from[i % from.length]!);
  const where =
    outside.length > 0
      ? `CPU ${formatCpuList(outside)}`
      : `every CPU, housekeeping's included (the host has ${pool.topology.online.length})`;
  return { cpus, note: `too few CPUs: ${vcpus} vCPU${vcpus === 1 ? '' : 's'} share ${where}` };
}

function explicit(pool: Pool, request: PinRequest & { pin: number[] }): Choice {
  const offline = request.pin.filter((cpu) => !pool.topology.online.includes(cpu));
  if (offline.length > 0)
    return {
      ...anyFree(pool, request.vcpus),
      note: `the recipe pins CPU ${formatCpuList(offline)}, which this host does not have; planned instead`,
    };
  const shared = request.pin.filter((cpu) => pool.housekeeping.has(cpu) || pool.taken.has(cpu));
  return shared.length > 0
    ? { cpus: request.pin, note: `CPU ${formatCpuList(shared)} is also used by housekeeping or another VM` }
    : { cpus: request.pin };
}

// Plans every request in order (the controller first gets the best cores); emulator threads go to housekeeping.
export function planPinning(
  topology: CpuTopology,
  housekeepingWanted: readonly number[],
  requests: readonly PinRequest[],
): Map<string, PinPlan> {
  const housekeeping = housekeepingWanted.filter((cpu) => topology.online.includes(cpu));
  if (housekeeping.length === 0) housekeeping.push(topology.online[0]!);
  const pool: Pool = { topology, housekeeping: new Set(housekeeping), taken: new Set() };
  const plans = new Map<string, PinPlan>();
  for (const request of requests) {
    const chosen = request.pin
      ? explicit(pool, request as PinRequest & { pin: number[] })
      : (wholeCores(pool, request.vcpus) ?? anyFree(pool, request.vcpus));
    for (const cpu of [...chosen.cpus, ...(chosen.reserved ?? [])]) pool.taken.add(cpu);
    const nodes = new Set(chosen.cpus.map((cpu) => nodeOf(topology, cpu)));
    const note = chosen.note ?? (nodes.size > 1 ? 'spans NUMA nodes' : undefined);
    plans.set(request.name, {
      housekeeping: [...housekeeping],
      vcpus: chosen.cpus.map((cpu, vcpu) => ({ vcpu, cpu })),
      emulator: [...housekeeping],
      ...(note ? { degraded: note } : {}),
      ...(request.memoryMiB
        ? { memory: planMemory(topology, chosen.cpus, request.memoryMiB, request.hugepages ?? 'auto') }
        : {}),
    });
  }
  return plans;
}

// One line for the console and the log: "controller: vCPU0→2 vCPU1→3, emulator→0 (degraded: …)".
export function describePlan(name: string, plan: PinPlan): string {
  const vcpus = plan.vcpus.map((v) => `vCPU${v.vcpu}→${v.cpu}`).join(' ');
  const memory = plan.memory ? `; memory ${plan.memory.note}` : '';
  return `${name}: ${vcpus}, emulator→${formatCpuList(plan.emulator)}${plan.degraded ? ` (degraded: ${plan.degraded})` : ''}${memory}`;
}
