// Bench rows for the fleet: a real 3-node nats-server cluster on loopback (JetStream, R3), simulated hosts (each the
// agent's own fleet link, with its own nkey and connection) putting their status every 5 s; at 100 and then 1,000
// hosts: how long `fleet ls` takes (one pass over the bucket), and the brokers' CPU and memory, so the growth from 100
// to 1,000 reads as a ratio.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditLog } from '../../agent/auth/audit.ts';
import { FakeControls } from '../../agent/fake-controls.test-support.ts';
import { FleetLink } from '../../agent/fleet/link.ts';
import { brokerAuthorization } from '../../builder/fleet/broker-config.ts';
import { connectOperator, listHosts, setupFleet } from '../../builder/fleet/client.ts';
import { enrollIdentity, listIdentities, readSeed } from '../../builder/fleet/identities.ts';
import type { AgentStatus } from '../../common/api-types.ts';
import { NatsCluster } from '../lib/nats-lab.ts';
import { type BenchRow, median } from './agent.ts';

// Clock ticks a second, as /proc/PID/stat counts CPU time (getconf CLK_TCK on Linux).
const TICKS = 100;

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Number(line?.[1] ?? 0) / 1024;
}

// The rows for `sizes` hosts (ascending), the last the most.
export async function fleetRows(sizes: number[] = [100, 1000]): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-bench-fleet-'));
  const keys = join(dir, 'keys');
  const most = Math.max(...sizes);
  const names = Array.from({ length: most }, (_, i) => `sim-${String(i).padStart(4, '0')}`);
  for (const name of names) await enrollIdentity(keys, 'host', name);
  await enrollIdentity(keys, 'operator', 'bench');
  const cluster = await NatsCluster.start(brokerAuthorization(await listIdentities(keys)));
  const controls = new FakeControls();
  const audit = new AuditLog(dir);
  const links: FleetLink[] = [];
  const rows: BenchRow[] = [];
  const seed = async (kind: 'hosts' | 'operators', name: string) =>
    (await readSeed(join(keys, 'fleet', kind, `${name}.nk`))).seed;
  const nc = await connectOperator(cluster.servers, 'bench', await seed('operators', 'bench'));
  try {
    for (let tries = 0; ; tries++) {
      try {
        await setupFleet(nc, { maxAgeSeconds: 600, replicas: 3, eventsDays: 1 });
        break;
      } catch (error) {
        if (tries > 100) throw error;
        await sleep(200);
      }
    }
    const measured: Array<{ hosts: number; ls: number; cpu: number; rss: number }> = [];
    for (const size of sizes) {
      while (links.length < size) {
        const name = names[links.length]!;
        const status = (): AgentStatus =>
          ({
            host: { name, version: '1.0.0' },
            state: 'ready',
            startedAt: '2026-12-07T00:00:00.000Z',
            accel: 'kvm',
            rescue: { active: false },
            warnings: [],
            vms: controls.listVms(),
          }) as unknown as AgentStatus;
        links.push(
          FleetLink.start({
            servers: cluster.servers,
            host: name,
            seed: await seed('hosts', name),
            intervalMs: 5000,
            status,
            controls,
            audit,
            log: () => undefined,
          }),
        );
      }
      const started = Date.now();
      while ((await listHosts(nc, 30)).hosts.length < size) {
        if (Date.now() - started > 300_000) throw new Error(`only some of ${size} hosts reported in 300 s`);
        await sleep(500);
      }
      // A minute of steady state: every host puts its status 12 times.
      const pids = cluster.nodes.map((n) => n.process!.pid!);
      const before = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
      const windowStart = performance.now();
      await sleep(60_000);
      const seconds = (performance.now() - windowStart) / 1000;
      const cpu = ((pids.reduce((sum, pid) => sum + cpuTicks(pid), 0) - before) / TICKS / seconds) * 100;
      const rss = pids.reduce((sum, pid) => sum + rssMiB(pid), 0);
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        const { hosts } = await listHosts(nc, 30);
        times.push(performance.now() - t);
        if (hosts.length !== size) throw new Error(`fleet ls saw ${hosts.length} of ${size} hosts`);
      }
      measured.push({ hosts: size, ls: median(times), cpu, rss });
    }
    const first = measured[0]!;
    for (const m of measured) {
      const growth =
        m === first ? undefined : { baseline: undefined, note: `×${(m.hosts / first.hosts).toFixed(0)} hosts` };
      rows.push(
        {
          metric: `fleet ls, ${m.hosts} hosts (median of 5)`,
          value: m.ls,
          unit: 'ms',
          ...(m === first ? {} : { baseline: first.ls, ratio: m.ls / first.ls }),
          note: growth?.note ?? 'one pass over the status bucket, R3 on 3 brokers',
        },
        {
          metric: `brokers' CPU, ${m.hosts} hosts putting status every 5 s`,
          value: m.cpu,
          unit: '%',
          ...(m === first ? {} : { baseline: first.cpu, ratio: m.cpu / first.cpu }),
          note: 'three nats-server nodes together, one core = 100 %',
        },
        {
          metric: `brokers' memory, ${m.hosts} hosts`,
          value: m.rss,
          unit: 'MiB',
          ...(m === first ? {} : { baseline: first.rss, ratio: m.rss / first.rss }),
          note: 'RSS of the three nodes together',
        },
      );
    }
    return rows;
  } finally {
    await nc.close();
    for (const link of links) await link.close();
    await audit.close();
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
