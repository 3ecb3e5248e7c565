// Host facts for the API and WebUI: CPU topology, accelerator, memory, versions, rescue state.
import { readFile } from 'node:fs/promises';
import { runTool } from '../../common/exec.ts';
import type { HostConfig } from '../config.ts';
import type { HostFacts, RescueState } from '../controls.ts';
import type { CpuTopology } from '../pinning/topology.ts';

let qemuVersion: string | undefined;

async function memoryMiB(): Promise<number> {
  const meminfo = await readFile('/proc/meminfo', 'utf8').catch(() => '');
  const kib = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  return Math.round(kib / 1024);
}

// Collects the facts; QEMU's version is asked once per agent.
export async function hostFacts(
  config: HostConfig,
  fields: {
    accel: 'kvm' | 'tcg';
    accelReason: string;
    agentVersion: string;
    topology: CpuTopology;
    rescue: RescueState;
    qemu?: string;
  },
): Promise<HostFacts> {
  qemuVersion ??= await runTool(fields.qemu ?? 'qemu-system-x86_64', ['--version'], {
    timeoutMs: 5000,
    allowFailure: true,
  }).then(
    (r) => /version (\S+)/.exec(r.stdout)?.[1] ?? 'unknown',
    () => 'unknown',
  );
  return {
    name: config.name,
    version: config.version,
    accel: fields.accel,
    accelReason: fields.accelReason,
    cpus: { online: fields.topology.online, cores: fields.topology.cores, nodes: fields.topology.nodes },
    memoryMiB: await memoryMiB(),
    versions: { agent: fields.agentVersion, node: process.version, qemu: qemuVersion },
    rescue: fields.rescue,
  };
}
