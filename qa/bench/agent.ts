// Bench rows for the agent: controller-ready time from agent start, beside a raw QEMU launch of the same guest image in the same run.
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bootToMarker, ARTIFACTS } from '../lib/boot.ts';
import { AgentRun, hostRoot, killVms } from '../lib/agent-run.ts';

// One row of the bench table (the shape qa/bench/run.ts prints).
export interface BenchRow {
  metric: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  note?: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

function rootPath(root: string, path: string): string {
  return join(root, path);
}

// Agent start → controller ready (agent process start, config, KVM choice, planning, launch, pinning, health) vs QEMU start → the same marker.
export async function controllerReadyRows(runs: number): Promise<BenchRow[]> {
  const host = await hostRoot();
  const controller = host.config.vms.find((vm: { role: string }) => vm.role === 'controller');
  const agent: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = join(ARTIFACTS, 'bench-agent');
    rmSync(dir, { recursive: true, force: true });
    const started = performance.now();
    const run = await AgentRun.start({ root: host.root, config: host.config, dir });
    try {
      await run.waitForVm('controller', (vm) => vm.state === 'ready', 600_000, 'reported ready');
      agent.push((performance.now() - started) / 1000);
    } finally {
      await run.kill('SIGKILL');
      await killVms(run.stateDir, ['controller', 'rescue']);
    }
    const vars = join(ARTIFACTS, 'bench-raw-vars.fd');
    copyFileSync(controller.firmware?.vars ? rootPath(host.root, controller.firmware.vars) : OVMF_VARS, vars);
    const boot = await bootToMarker({
      name: 'bench-controller-raw',
      kernel: rootPath(host.root, controller.kernel),
      initrd: rootPath(host.root, controller.initrd),
      append: controller.cmdline,
      marker: controller.health.marker,
      timeoutS: 600,
      memoryMiB: controller.memoryMiB,
      cpus: controller.cpus,
      firmware: { type: 'ovmf', code: controller.firmware?.code ? rootPath(host.root, controller.firmware.code) : OVMF_CODE, vars },
    });
    raw.push(boot.ms / 1000);
  }
  const a = median(agent);
  const b = median(raw);
  return [
    {
      metric: `controller ready from agent start (TCG, median of ${runs})`,
      value: a,
      unit: 's',
      baseline: b,
      ratio: a / b,
      note: 'baseline: plain qemu-system-x86_64 with the same kernel, initrd, firmware and cmdline, to the same marker on serial',
    },
  ];
}
