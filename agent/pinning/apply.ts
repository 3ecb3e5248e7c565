// Applies a pinning plan to a running QEMU: each vCPU thread (from QMP query-cpus-fast) to its CPU, every other thread
// to the emulator CPUs.
import { readdir, readFile } from 'node:fs/promises';
import { runTool } from '../../common/exec.ts';
import type { PinPlan } from '../controls.ts';
import { parseCpuList } from './topology.ts';

// The QMP call this module needs (the agent's QmpClient has it).
export interface VcpuSource {
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
}

// A hex affinity mask, the form both util-linux and busybox taskset take (busybox may lack -c).
export function affinityMask(cpus: readonly number[]): string {
  let mask = 0n;
  for (const cpu of cpus) mask |= 1n << BigInt(cpu);
  return mask.toString(16);
}

// The thread ids of a VM's vCPUs, in vCPU order.
export async function vcpuThreads(qmp: VcpuSource): Promise<Array<{ vcpu: number; tid: number }>> {
  const cpus = await qmp.execute<Array<{ 'cpu-index': number; 'thread-id': number }>>('query-cpus-fast');
  return cpus.map((c) => ({ vcpu: c['cpu-index'], tid: c['thread-id'] })).sort((a, b) => a.vcpu - b.vcpu);
}

// The CPUs a thread may run on, as the kernel reports them.
export async function threadAffinity(pid: number, tid: number): Promise<number[]> {
  const status = await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8');
  const line = status.split('\n').find((l) => l.startsWith('Cpus_allowed_list:'));
  return parseCpuList(line?.split(':')[1] ?? '');
}

async function setAffinity(tid: number, cpus: readonly number[]): Promise<void> {
  await runTool('taskset', ['-p', affinityMask(cpus), String(tid)], { timeoutMs: 5000 });
}

// Pins the threads and returns the plan with each vCPU's thread id filled in.
export async function applyPinning(pid: number, plan: PinPlan, qmp: VcpuSource): Promise<PinPlan> {
  const threads = await vcpuThreads(qmp);
  const vcpus = plan.vcpus.map((v) => ({ ...v, tid: threads.find((t) => t.vcpu === v.vcpu)?.tid }));
  for (const v of vcpus) if (v.tid !== undefined) await setAffinity(v.tid, [v.cpu]);
  const vcpuTids = new Set(vcpus.map((v) => v.tid));
  const tids = (await readdir(`/proc/${pid}/task`)).map(Number).filter((tid) => !vcpuTids.has(tid));
  for (const tid of tids) await setAffinity(tid, plan.emulator).catch(() => undefined);
  return { ...plan, vcpus };
}
