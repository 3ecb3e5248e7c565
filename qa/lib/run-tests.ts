// Test runner: runs every `*.test.ts` file (uvu suites) in its own Node process and prints `N passed, N failed`;
// `--slow` runs only the scenarios whose folder holds a SLOW file, which the default run leaves out.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const searched = ['common', 'builder', 'agent', 'qa'];

function findTests(dir: string, found: string[] = []): string[] {
  if (!existsSync(dir)) return found;
  for (const name of readdirSync(dir).sort()) {
    // qa/artifacts holds unpacked images (hundreds of MiB, links that only resolve inside them): never tests.
    if (name === 'node_modules' || name === 'fixtures' || name === 'artifacts' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, found);
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

interface FileResult {
  file: string;
  passed: number;
  failed: number;
  output: string;
  code: number | null;
  seconds: number;
  // Seconds the file's process still ran after its summary.
  lingered?: number;
}

// uvu prints "Total: N / Passed: N / Skipped: N" at exit; a crash before that counts as one failure.
function parseUvuSummary(output: string): { total: number; passed: number } | undefined {
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const total = /Total:\s+(\d+)/.exec(plain);
  const passed = /Passed:\s+(\d+)/.exec(plain);
  if (!total || !passed) return undefined;
  return { total: Number(total[1]), passed: Number(passed[1]) };
}

// The type check and the lint/format check each count as one test, so a finding shows in the same summary line.
const CHECKS: Record<string, { label: string; argv: string[] }> = {
  typecheck: {
    label: 'typecheck (tsc -p tsconfig.json)',
    argv: [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--pretty', 'false'],
  },
  lint: {
    label: 'lint and format (biome ci)',
    argv: [join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome'), 'ci', '--colors=off', '.'],
  },
};

function runCheck(name: string): Promise<FileResult> {
  const check = CHECKS[name];
  if (!check) throw new Error(`no check named ${name}`);
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, check.argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) =>
      resolve({
        file: check.label,
        passed: code === 0 ? 1 : 0,
        failed: code === 0 ? 0 : 1,
        output,
        code,
        seconds: (performance.now() - started) / 1000,
      }),
    );
  });
}

function runFile(file: string): Promise<FileResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    // When uvu printed its summary: a file that goes on running long after it holds a timer or a handle open.
    let summaryAt: number | undefined;
    const take = (chunk: Buffer) => {
      // Only the new text (and a few characters before it, for a word split between chunks) is searched.
      const from = Math.max(0, output.length - 16);
      output += chunk;
      if (summaryAt === undefined && output.includes('Duration:', from)) summaryAt = performance.now();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => {
      const summary = parseUvuSummary(output);
      const passed = summary?.passed ?? 0;
      let failed = summary ? summary.total - summary.passed : 1;
      if (code !== 0 && failed === 0) failed = 1;
      resolve({
        file: relative(root, file),
        passed,
        failed,
        output,
        code,
        seconds: (performance.now() - started) / 1000,
        ...(summaryAt !== undefined ? { lingered: (performance.now() - summaryAt) / 1000 } : {}),
      });
    });
  });
}

async function main(): Promise<void> {
  const slowOnly = process.argv.includes('--slow');
  const filters = process.argv.slice(2).filter((a) => a !== '--slow');
  // A scenario folder with a SLOW file (a nested boot, a long sweep) runs in `npm run test:slow`, not in `npm test`.
  const isSlow = (f: string): boolean => existsSync(join(dirname(f), 'SLOW'));
  const files = searched
    .flatMap((dir) => findTests(join(root, dir)))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
    .filter((f) => (slowOnly ? isSlow(f) : !isSlow(f)));
  // Boot scenarios (qa/cases/) each keep a core busy with TCG: they run one at a time, after the parallel unit tests.
  const isScenario = (f: string): boolean => relative(root, f).startsWith(join('qa', 'cases'));
  const queue: string[] =
    filters.length === 0 && !slowOnly
      ? [...Object.keys(CHECKS), ...files.filter((f) => !isScenario(f))]
      : files.filter((f) => !isScenario(f));
  const results: FileResult[] = [];
  const report = (result: FileResult): void => {
    results.push(result);
    const mark = result.failed === 0 ? 'ok  ' : 'FAIL';
    // The time is there so a slow suite shows which files to move to `npm run test:slow`.
    const lingered =
      (result.lingered ?? 0) > 5
        ? `, ${result.lingered!.toFixed(1)} s of it after its summary: a timer or handle left open`
        : '';
    console.log(
      `${mark} ${result.file} (${result.passed} passed, ${result.failed} failed, ${result.seconds.toFixed(1)} s${lingered})`,
    );
    if (result.failed > 0) console.log(result.output.replace(/^/gm, '    '));
  };
  const workers = Math.max(1, Math.min(Number(process.env.MVOS_TEST_JOBS) || availableParallelism(), 4));
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let file = queue.shift(); file; file = queue.shift())
        report(file in CHECKS ? await runCheck(file) : await runFile(file));
    }),
  );
  for (const file of files.filter(isScenario)) report(await runFile(file));
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  console.log(`\n${files.length} test files`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && files.length > 0 ? 0 : 1;
}

await main();
