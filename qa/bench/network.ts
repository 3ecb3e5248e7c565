// Bench rows for networks: a VM's throughput and round-trip time to the test "internet" through its router VM, beside
// the same guest image on a direct tap into the same namespace, in the same run; and the router's memory.
import { mkdirSync, rmSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { novmSpec } from '../../agent/launch/novm.ts';
import { startQemu, vmPaths } from '../../agent/launch/vm.ts';
import { unpackInitramfs } from '../../builder/archive/unpack.ts';
import type { VmConfig } from '../../common/host-config.ts';
import { hostTscKhz } from '../../common/qemu/tsc.ts';
import { AgentRun, consoleShell, killVms, type ScenarioConfig } from '../lib/agent-run.ts';
import { ARTIFACTS } from '../lib/boot.ts';
import { buildHostImage } from '../lib/host-image.ts';
import { BIG_BYTES, Internet } from '../lib/internet.ts';
import { type BenchRow, median } from './agent.ts';

const NETNS = 'mvb-inet';
const BOOT_MS = 300_000;

// Reads (and drops) what a guest says on its health channel, once QEMU listens there.
async function listenHealth(path: string): Promise<Socket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = connect(path, () => resolve(socket));
        socket.on('data', () => undefined);
        socket.once('error', reject);
      });
    } catch (error) {
      if (attempt > 50) throw error;
      await sleep(100);
    }
  }
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

// Fetches /big `runs` times and pings the server 20 times from a VM: MiB/s (median, timed by the server) and the mean
// round trip (ms, as the guest's ping reports it).
async function measure(
  stateDir: string,
  vm: string,
  server: string,
  internet: Internet,
  runs: number,
): Promise<{ mibps: number; rttMs: number }> {
  const lease = await consoleShell(
    stateDir,
    vm,
    'for i in $(seq 90); do ip route | grep -q default && break; sleep 1; done; ip route | grep -c default',
    120_000,
  );
  if (lease.rc !== 0) throw new Error(`${vm} got no lease:\n${lease.out}`);
  const speeds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const before = internet.bigSeconds.length;
    const got = await consoleShell(stateDir, vm, `wget -q -O /dev/null http://${server}/big`, 600_000);
    if (got.rc !== 0 || internet.bigSeconds.length !== before + 1) throw new Error(`${vm}: /big failed:\n${got.out}`);
    speeds.push(BIG_BYTES / 1048576 / internet.bigSeconds[before]!);
  }
  const ping = await consoleShell(stateDir, vm, `ping -c 20 -i 0.2 ${server}`, 120_000);
  const avg = /min\/avg\/max = [\d.]+\/([\d.]+)\//.exec(ping.out);
  if (!avg) throw new Error(`${vm}: no ping summary:\n${ping.out}`);
  return { mibps: median(speeds), rttMs: Number(avg[1]) };
}

// Throughput and latency through the router vs a direct tap, and the router's resident memory.
export async function networkRows(runs: number): Promise<BenchRow[]> {
  const dir = join(ARTIFACTS, 'bench-net');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const image = buildHostImage('recipes/examples/host-net.yaml');
  const root = await unpackInitramfs(image.initrd, join(ARTIFACTS, 'host-roots'));
  const config = JSON.parse(await readFile(join(root, 'etc/mvos/host.json'), 'utf8')) as ScenarioConfig;
  config.vms = config.vms.filter((vm) => vm.name === 'router' || vm.name === 'web');
  const networks = config.networks as {
    routers: Array<{ uplink: { tap: { netns?: string }; mac: string } }>;
    links: Array<{ vm: string }>;
  };
  networks.routers[0]!.uplink.tap.netns = NETNS;
  networks.links = networks.links.filter((l) => l.vm === 'web');
  const internet = await Internet.start({
    netns: NETNS,
    dir,
    taps: [
      {
        name: 'mvup0',
        address: '203.0.113.1',
        range: ['203.0.113.10', '203.0.113.20'],
        hosts: [{ mac: networks.routers[0]!.uplink.mac, address: '203.0.113.2' }],
      },
      { name: 'mvdirect0', address: '192.0.2.1', range: ['192.0.2.10', '192.0.2.20'] },
    ],
  });
  let run: AgentRun | undefined;
  let directPid: number | undefined;
  let health: Socket | undefined;
  const rawState = join(dir, 'raw');
  try {
    run = await AgentRun.start({ root, config, dir: join(dir, 'agent') });
    for (const name of ['router', 'web'])
      await run.waitForVm(name, (vm) => vm.state === 'ready', BOOT_MS, 'reported ready');
    const routed = await measure(run.stateDir, 'web', '203.0.113.1', internet, runs);
    const routerMiB = await rssMiB((await run.vm('router')).pid!);

    // The same guest, its NIC a tap in the internet's namespace: no router in between.
    const web = config.vms.find((vm) => vm.name === 'web')! as unknown as VmConfig;
    const paths = vmPaths(rawState, 'direct');
    await mkdir(paths.dir, { recursive: true });
    const spec = await novmSpec(web, {
      root,
      accel: 'tcg',
      tscKhz: hostTscKhz(),
      paths,
      net: { nics: [{ id: 'net0', mac: '02:00:00:00:99:01', backend: { tap: 'mvdirect0' } }] },
    });
    directPid = await startQemu(spec, paths, { netns: NETNS });
    // The guest's init writes its ready line to the health channel too, and waits there until someone listens.
    health = await listenHealth(paths.health);
    // What is typed before the guest's shell runs is lost: wait for its ready line first.
    const until = Date.now() + BOOT_MS;
    while (!(await readFile(paths.serialLog, 'utf8').catch(() => '')).includes(web.health.marker)) {
      if (Date.now() > until) throw new Error(`the direct VM never reported ready; see ${paths.serialLog}`);
      await sleep(250);
    }
    const direct = await measure(rawState, 'direct', '192.0.2.1', internet, runs);
    return [
      {
        metric: `VM → internet throughput through the router (HTTP GET of ${BIG_BYTES / 1048576} MiB, median of ${runs})`,
        value: routed.mibps,
        unit: 'MiB/s',
        baseline: direct.mibps,
        ratio: routed.mibps / direct.mibps,
        note: 'baseline: the same guest on a tap straight into the test namespace; timed by the HTTP server; TCG',
      },
      {
        metric: 'VM → internet round trip through the router (ping, mean of 20)',
        value: routed.rttMs,
        unit: 'ms',
        baseline: direct.rttMs,
        ratio: routed.rttMs / direct.rttMs,
        note: 'baseline: the same guest on a direct tap; as the guest measures it; TCG',
      },
      {
        metric: 'router VM resident memory (QEMU RSS, 128 MiB guest, traffic done)',
        value: routerMiB,
        unit: 'MiB',
      },
    ];
  } finally {
    health?.destroy();
    if (directPid) process.kill(directPid, 'SIGKILL');
    await run?.kill('SIGKILL');
    if (run) await killVms(run.stateDir, ['router', 'web']);
    await internet.stop();
  }
}
