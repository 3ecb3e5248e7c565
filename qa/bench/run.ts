// `npm run bench`: build and boot measurements of the default host, each beside a baseline from the same run.
// Prints a table and writes qa/artifacts/bench.json. Absolute times here are noisy; read the ratios.
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { decompress } from '../../builder/archive/compress.ts';
import { ARTIFACTS } from '../lib/boot.ts';
import { copyCheckout, seedCache } from '../lib/checkout.ts';
import { buildHostImage, repoRoot } from '../lib/host-image.ts';
import { type BenchRow, controllerReadyRows, median, workloadRows } from './agent.ts';
import { bootRows } from './boot.ts';
import { cliStartRows } from './cli.ts';
import { fleetRows } from './fleet.ts';
import { launchSweepRows } from './launch-sweep.ts';
import { networkRows } from './network.ts';
import { onionRows } from './onion.ts';
import { agentRssRows } from './rss.ts';
import { updateRows } from './update.ts';

type Row = BenchRow;

const rows: Row[] = [];
const runs = Number(process.argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? 3);
// A microVM launch is under 2 s and varies by ±0.15 s between boots here: 3 runs leave its 1.1× ratio to noise.
const WORKLOAD_RUNS = 7;
// --only=agent: just the agent's launches (controller, novm, container), beside their raw QEMU baselines.
const onlyAgent = process.argv.includes('--only=agent');
// --only=sweep: --novm=N then --containers=N launches in a row through one agent, none restarted (every stall counts).
const onlySweep = process.argv.includes('--only=sweep');
// --only=build: the cold, no-op and one-overlay-file builds in a second checkout, the CLI's start and the sizes.
const onlyBuild = process.argv.includes('--only=build');
// --only=boot: boot to agent ready beside the busybox baseline and the floors between them (unpack, Node's start).
const onlyBoot = process.argv.includes('--only=boot');
// --only=cli: `mvos --help` and a no-op build in this checkout, beside `node -e 0`.
const onlyCli = process.argv.includes('--only=cli');
// --only=net: throughput and round trip through the router VM beside a direct tap, and the router's memory.
const onlyNet = process.argv.includes('--only=net');
// --only=onion: the onion call-home over the private Tor network: first connect, and `status` beside a direct SSH.
const onlyOnion = process.argv.includes('--only=onion');
// --only=update: an update bundle's size, making it and applying it, each beside copying the same bytes.
const onlyUpdate = process.argv.includes('--only=update');
// --only=fleet: a NATS cluster of three with 100, then 1,000 simulated hosts: fleet ls and the brokers' CPU and memory.
const onlyFleet = process.argv.includes('--only=fleet');
const count = (flag: string, fallback: number): number =>
  Number(process.argv.find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3) ?? fallback);

// What `mvos build --json` prints that the bench reads.
interface BuildJson {
  stages: Array<{ stage: string; ran: boolean; reason: string; seconds: number }>;
}

function timed(cwd: string, env: Record<string, string>, args: string[]): { seconds: number; json: BuildJson } {
  const started = performance.now();
  const run = spawnSync(join(cwd, 'mvos'), [...args, '--json'], {
    cwd,
    env: { ...process.env, ...env, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 45 * 60_000,
  });
  const seconds = (performance.now() - started) / 1000;
  if (run.status !== 0) throw new Error(`mvos ${args.join(' ')} failed:\n${run.stdout}\n${run.stderr}`);
  return { seconds, json: JSON.parse(run.stdout) };
}

async function main(): Promise<void> {
  if (onlyFleet) {
    rows.push(...(await fleetRows([count('hosts-first', 100), count('hosts', 1000)])));
    return report();
  }
  console.log('warming up: building recipes/host.yaml in this checkout (compiles the guest kernel once)');
  const image = buildHostImage();

  const work = mkdtempSync(join(tmpdir(), 'mvos-bench-'));
  try {
    if (onlySweep) {
      rows.push(...(await launchSweepRows(count('novm', 100), count('containers', 20))));
      return report();
    }
    if (onlyBoot) {
      rows.push(...(await bootRows(image, runs, work)));
      return report();
    }
    if (onlyCli) {
      rows.push(...cliStartRows(repoRoot));
      return report();
    }
    if (onlyNet) {
      rows.push(...(await networkRows(runs)));
      return report();
    }
    if (onlyOnion) {
      rows.push(...(await onionRows(Math.max(runs, 5))));
      return report();
    }
    if (onlyUpdate) {
      rows.push(...(await updateRows(image, runs)));
      return report();
    }
    if (onlyAgent) {
      rows.push(...(await controllerReadyRows(runs)));
      rows.push(...(await workloadRows(Math.max(runs, WORKLOAD_RUNS))));
      rows.push(...(await agentRssRows()));
      return report();
    }
    const checkout = copyCheckout(join(work, 'checkout'));
    const lock = JSON.parse(readFileSync(join(checkout, 'recipes/host.lock.json'), 'utf8'));
    const kernelStages = Object.entries(image.manifest.build.stages as Record<string, string>)
      .filter(([n]) => n.startsWith('kernel-source('))
      .map(([, k]) => k);
    const cache = await seedCache(join(work, 'cache'), lock, kernelStages);
    const env = { MVOS_CACHE: cache.root };

    const cold = timed(checkout, env, ['build', 'recipes/host.yaml']);
    const stageTimes = (cold.json.stages as Array<{ stage: string; ran: boolean; seconds: number }>)
      .filter((s) => s.ran)
      .map((s) => `${s.stage} ${s.seconds.toFixed(1)} s`);
    rows.push({
      metric: 'cold build (packages and guest kernel cached)',
      value: cold.seconds,
      unit: 's',
      note: stageTimes.join('; '),
    });
    const same = ['vmlinuz', 'initrd', 'manifest.json', 'sbom.spdx.json'].every((f) =>
      readFileSync(join(image.dir, f)).equals(readFileSync(join(checkout, 'images/multiverse-host', f))),
    );
    rows.push({ metric: 'same bytes as the build in the main checkout', value: same ? 1 : 0, unit: 'bool' });

    const noop = [1, 2, 3].map(() => timed(checkout, env, ['build', 'recipes/host.yaml']));
    rows.push({
      metric: 'no-op rebuild (median of 3, whole process)',
      value: median(noop.map((n) => n.seconds)),
      unit: 's',
      note: `stages ran: ${noop.map((n) => n.json.stages.filter((s: { ran: boolean }) => s.ran).length).join(', ')}`,
    });
    rows.push(...cliStartRows(checkout, env));

    appendFileSync(join(checkout, 'rootfs/host/overlay/etc/mvos/README'), '\nbench edit\n');
    const oneFile = timed(checkout, env, ['build', 'recipes/host.yaml']);
    const ran = oneFile.json.stages
      .filter((s: { ran: boolean }) => s.ran)
      .map((s: { stage: string; reason: string }) => `${s.stage} (${s.reason})`);
    rows.push({
      metric: 'one overlay file changed: rebuild, against the cold build',
      value: oneFile.seconds,
      unit: 's',
      baseline: cold.seconds,
      ratio: oneFile.seconds / cold.seconds,
      note: `ran: ${ran.join('; ')}`,
    });

    const initrd = readFileSync(image.initrd);
    const compression = image.manifest.image.initramfs.compression as 'zstd' | 'gzip' | 'none';
    rows.push({ metric: `initrd compressed (${compression})`, value: initrd.length / 2 ** 20, unit: 'MiB' });
    rows.push({
      metric: 'initrd uncompressed (cpio)',
      value: (await decompress(initrd, compression)).length / 2 ** 20,
      unit: 'MiB',
    });
    rows.push({ metric: 'vmlinuz', value: statSync(image.kernel).size / 2 ** 20, unit: 'MiB' });
    const iso = join(image.dir, `${basename(image.dir)}.iso`);
    rows.push({ metric: 'host ISO (hybrid, BIOS and UEFI)', value: statSync(iso).size / 1e6, unit: 'MB' });

    if (onlyBuild) return report();
    rows.push(...(await bootRows(image, runs, work)));
    rows.push(...(await controllerReadyRows(runs)));
    rows.push(...(await workloadRows(Math.max(runs, WORKLOAD_RUNS))));
    rows.push(...(await agentRssRows()));
    rows.push(...(await networkRows(runs)));
    rows.push(...(await onionRows(Math.max(runs, 5))));
    rows.push(...(await updateRows(image, runs)));
    rows.push(...(await fleetRows()));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  report();
}

function report(): void {
  const width = Math.max(...rows.map((r) => r.metric.length));
  console.log(
    `\n${'metric'.padEnd(width)}  ${'value'.padStart(9)}  unit  ${'baseline'.padStart(8)}  ${'ratio'.padStart(6)}  note`,
  );
  for (const r of rows) {
    console.log(
      `${r.metric.padEnd(width)}  ${r.value.toFixed(r.unit === 'bool' ? 0 : 2).padStart(9)}  ${r.unit.padEnd(4)}  ${(r.baseline?.toFixed(2) ?? '').padStart(8)}  ${(r.ratio?.toFixed(2) ?? '').padStart(6)}  ${r.note ?? ''}`,
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const out = join(ARTIFACTS, 'bench.json');
  writeFileSync(out, `${JSON.stringify({ when: new Date().toISOString(), repo: repoRoot, rows }, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
}

await main();
