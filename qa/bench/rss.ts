// The agent's memory as the host runs it: the image's own bundle (agent.mjs) on plain node, no tsx, with the image's
// controller and rescue defined and the controller up; beside an idle `node` in the same run, the floor any agent on
// Node pays.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentStatus } from '../../agent/status.ts';
import { hostRoot, killVms } from '../lib/agent-run.ts';
import type { BenchRow } from './agent.ts';

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

// The Node options the image's init starts its agent with (between `/usr/bin/node` and the bundle), so the agent here
// runs as it does on the host.
async function nodeFlagsOfInit(root: string): Promise<string[]> {
  const init = await readFile(join(root, 'init'), 'utf8');
  const flags = /^agent_cmd="\/usr\/bin\/node ((?:--\S+ )*)\/usr\/lib\/mvos\/agent\.mjs /m.exec(init);
  if (!flags) throw new Error('the image\'s init has no agent_cmd="/usr/bin/node … /usr/lib/mvos/agent.mjs …" line');
  return flags[1]!.split(' ').filter(Boolean);
}

async function controllerReady(runDir: string, until: number): Promise<void> {
  while (Date.now() < until) {
    const status = await readFile(join(runDir, 'status.json'), 'utf8').catch(() => undefined);
    const vms = status ? (JSON.parse(status) as AgentStatus).vms : [];
    if (vms.some((v) => v.name === 'controller' && v.state === 'ready')) return;
    await sleep(500);
  }
  throw new Error('the controller did not come up for the RSS measurement');
}

// One row: the agent's RSS 5 s after its controller reported ready, against node idling for as long.
export async function agentRssRows(): Promise<BenchRow[]> {
  const host = await hostRoot();
  const dir = mkdtempSync(join(tmpdir(), 'mvos-bench-rss-'));
  writeFileSync(join(dir, 'host.json'), JSON.stringify(host.config));
  const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const agent = spawn(
    process.execPath,
    [
      ...(await nodeFlagsOfInit(host.root)),
      join(host.root, 'usr/lib/mvos/agent.mjs'),
      ...['--root', host.root, '--config', join(dir, 'host.json'), '--state-dir', join(dir, 'state')],
      ...['--run-dir', join(dir, 'run'), '--accel', 'tcg'],
    ],
    { stdio: 'ignore' },
  );
  try {
    await controllerReady(join(dir, 'run'), Date.now() + 300_000);
    await sleep(5000);
    const agentKiB = await rssKiB(agent.pid!);
    const idleKiB = await rssKiB(idle.pid!);
    return [
      {
        metric: 'agent RSS (image bundle on plain node; controller up, rescue defined)',
        value: agentKiB / 1024,
        unit: 'MiB',
        baseline: idleKiB / 1024,
        ratio: agentKiB / idleKiB,
        note: `baseline: node idling (${process.version}) in the same run; the agent with init's Node options`,
      },
    ];
  } finally {
    agent.kill('SIGKILL');
    idle.kill('SIGKILL');
    await killVms(join(dir, 'state'), ['controller', 'rescue']);
    rmSync(dir, { recursive: true, force: true });
  }
}
