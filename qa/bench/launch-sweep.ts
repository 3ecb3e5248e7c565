// Many launches in a row through the agent (novm VMs, then containers), none restarted: every stall shows as a
// failure, and every launch is listed with its time to ready (qa/artifacts/launch-sweep.json).
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VmView } from '../../common/api-types.ts';
import { AgentRun, apiCall, hostRoot, killVms } from '../lib/agent-run.ts';
import { ARTIFACTS } from '../lib/boot.ts';
import { type BenchRow, busyboxImage, median, novmApp, secondsToReady } from './agent.ts';

// One launch: how long to ready, or why it never got there.
interface Launch {
  kind: 'novm' | 'container';
  n: number;
  seconds?: number;
  failure?: string;
}

// A restarted VM's history keeps its earlier ready events: only the state counts for it. A container (a new name each
// time) may finish before the first look, so its ready time counts too.
const readyOrFailed = (vm: VmView): boolean => vm.state === 'ready' || vm.state === 'failed';
const startedOrFailed = (vm: VmView): boolean => readyOrFailed(vm) || vm.readyAt !== undefined;

// Starts `novm` novm launches and then `containers` container launches, one at a time, on one agent.
export async function launchSweepRows(novm: number, containers: number): Promise<BenchRow[]> {
  const host = await hostRoot();
  const controller = host.config.vms.find((vm) => vm.role === 'controller');
  if (!controller) throw new Error('the host has no controller to borrow a guest image from');
  const app = novmApp(controller, {
    deadlineSeconds: 30,
    attempts: 0,
    cmdline: controller.cmdline.replace(/\bquiet\b/, ''),
  });
  const config = { ...structuredClone(host.config), vms: [app] };
  const image = await busyboxImage(join(ARTIFACTS, 'sweep-oci'), 'echo swept');
  const dir = join(ARTIFACTS, 'bench-sweep');
  rmSync(dir, { recursive: true, force: true });
  const launches: Launch[] = [];
  const run = await AgentRun.start({ root: host.root, config, dir });
  const names = ['app'];
  try {
    for (let n = 1; n <= novm; n++) {
      const started = Date.now();
      await apiCall(run, 'POST', '/api/vms/app/start');
      const vm = await run.waitForVm('app', readyOrFailed, 120_000, 'was ready or failed');
      launches.push(outcome('novm', n, vm, started));
      await apiCall(run, 'POST', '/api/vms/app/stop');
      await run.waitForVm('app', (v) => v.state === 'stopped' || v.state === 'failed', 60_000, 'stopped');
    }
    for (let n = 1; n <= containers; n++) {
      const name = `job-${n}`;
      names.push(name);
      const started = Date.now();
      const answer = await apiCall(run, 'POST', '/api/containers', { name, image });
      if (answer.status !== 201) throw new Error(`container launch: ${JSON.stringify(answer.json)}`);
      launches.push(outcome('container', n, await run.waitForVm(name, startedOrFailed, 120_000, 'started'), started));
    }
  } finally {
    await run.kill('SIGKILL');
    await killVms(run.stateDir, names);
  }
  writeFileSync(join(ARTIFACTS, 'launch-sweep.json'), `${JSON.stringify(launches, null, 2)}\n`);
  for (const l of launches)
    console.log(`${l.kind} ${l.n}: ${l.seconds === undefined ? `FAILED ${l.failure}` : `${l.seconds.toFixed(2)} s`}`);
  return (['novm', 'container'] as const).map((kind) => {
    const all = launches.filter((l) => l.kind === kind);
    const times = all.flatMap((l) => (l.seconds === undefined ? [] : [l.seconds]));
    return {
      metric: `${kind} launches through the agent that never got ready (of ${all.length}, no restarts)`,
      value: all.length - times.length,
      unit: 'n',
      note: times.length
        ? `time to ready: median ${median(times).toFixed(2)} s, max ${Math.max(...times).toFixed(2)} s; each in qa/artifacts/launch-sweep.json`
        : 'none got ready',
    };
  });
}

function outcome(kind: Launch['kind'], n: number, vm: VmView, started: number): Launch {
  if (vm.state === 'failed') return { kind, n, failure: vm.failure?.reason ?? 'failed' };
  return { kind, n, seconds: secondsToReady(vm, started) };
}
