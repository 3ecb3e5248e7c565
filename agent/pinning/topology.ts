// The host's CPU topology from sysfs: online CPUs, physical cores (SMT siblings together) and NUMA nodes.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

// CPUs grouped as the scheduler sees them; every list is sorted.
export interface CpuTopology {
  online: number[];
  // Each core is the list of its hardware threads (SMT siblings), ordered by their first CPU.
  cores: number[][];
  // Each NUMA node's CPUs (one node holding every CPU where sysfs has no node directory).
  nodes: number[][];
  // The kernel's number of each entry of `nodes` (node directories need not be contiguous).
  nodeIds: number[];
  // Free 2 MiB hugepages on each entry of `nodes`.
  hugepagesFree: number[];
}

// Parses the kernel's CPU list format ("0-3,8,10-11").
export function parseCpuList(text: string): number[] {
  const cpus = new Set<number>();
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const [from, to] = part.split('-').map((n) => Number.parseInt(n, 10));
    if (from === undefined || Number.isNaN(from)) continue;
    for (let cpu = from; cpu <= (to ?? from); cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}

// Writes a CPU list in the kernel's short format.
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges.join(',');
}

async function readText(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').catch(() => undefined);
}

// Reads the topology under a sysfs root (/sys on a live host; a fixture tree in tests).
export async function readTopology(sysfs = '/sys'): Promise<CpuTopology> {
  const cpuDir = join(sysfs, 'devices/system/cpu');
  const online = parseCpuList((await readText(join(cpuDir, 'online'))) ?? '0');
  const coreOf = new Map<string, number[]>();
  for (const cpu of online) {
    const siblings = await readText(join(cpuDir, `cpu${cpu}`, 'topology/thread_siblings_list'));
    const threads = siblings ? parseCpuList(siblings).filter((c) => online.includes(c)) : [cpu];
    coreOf.set(threads.join(','), threads);
  }
  const cores = [...coreOf.values()].sort((a, b) => a[0]! - b[0]!);
  const nodeDir = join(sysfs, 'devices/system/node');
  const nodeNames = (await readdir(nodeDir).catch(() => [] as string[]))
    .filter((n) => /^node\d+$/.test(n))
    .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
  const nodes: number[][] = [];
  const nodeIds: number[] = [];
  const hugepagesFree: number[] = [];
  for (const name of nodeNames) {
    const list = await readText(join(nodeDir, name, 'cpulist'));
    const cpus = list ? parseCpuList(list).filter((c) => online.includes(c)) : [];
    if (cpus.length === 0) continue;
    nodes.push(cpus);
    nodeIds.push(Number(name.slice(4)));
    hugepagesFree.push(await readCount(join(nodeDir, name, HUGEPAGES_2M, 'free_hugepages')));
  }
  if (nodes.length > 0) return { online, cores, nodes, nodeIds, hugepagesFree };
  return {
    online,
    cores,
    nodes: [online],
    nodeIds: [0],
    hugepagesFree: [await readCount(join(sysfs, 'kernel/mm', HUGEPAGES_2M, 'free_hugepages'))],
  };
}

const HUGEPAGES_2M = 'hugepages/hugepages-2048kB';

async function readCount(file: string): Promise<number> {
  const n = Number.parseInt((await readText(file)) ?? '', 10);
  return Number.isInteger(n) && n > 0 ? n : 0;
}
