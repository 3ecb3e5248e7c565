// CLI start-up: `mvos --help` and a no-op `mvos build`, each beside `node -e 0` in the same run (the floor any Node
// program pays), wall time of the whole process as a person waits for it.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { type BenchRow, median } from './agent.ts';

function wall(command: string, args: string[], cwd: string, env: Record<string, string>): number {
  const started = performance.now();
  const run = spawnSync(command, args, { cwd, env: { ...process.env, ...env, NO_COLOR: '1' }, encoding: 'utf8' });
  const seconds = (performance.now() - started) / 1000;
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${run.stdout}\n${run.stderr}`);
  return seconds;
}

function medianOf(times: number, measure: () => number): number {
  return median(Array.from({ length: times }, measure));
}

// Rows for a checkout whose image is already built (so `build` is a no-op); the first run of each command warms the
// CLI bundle and its code cache, as any run after the first would find them.
export function cliStartRows(checkout: string, env: Record<string, string> = {}): BenchRow[] {
  const mvos = join(checkout, 'mvos');
  const node = medianOf(10, () => wall(process.execPath, ['-e', '0'], checkout, env));
  wall(mvos, ['--help'], checkout, env);
  const help = medianOf(10, () => wall(mvos, ['--help'], checkout, env));
  wall(mvos, ['build', 'recipes/host.yaml'], checkout, env);
  const build = medianOf(5, () => wall(mvos, ['build', 'recipes/host.yaml'], checkout, env));
  const note = 'baseline: node -e 0 in the same run';
  return [
    {
      metric: 'mvos --help (median of 10, whole process)',
      value: help,
      unit: 's',
      baseline: node,
      ratio: help / node,
      note,
    },
    {
      metric: 'no-op mvos build (median of 5, whole process)',
      value: build,
      unit: 's',
      baseline: node,
      ratio: build / node,
      note,
    },
  ];
}
