// The `mvos` command as a person runs it: the real launcher in a child process, exit codes, stderr, help and --json.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runMvos } from './mvos.test-support.ts';

const broken = 'builder/recipe/fixtures/broken/01-cpus-wrong-type.yaml';

const mvos = (...args: string[]) => runMvos(args, { env: { FORCE_COLOR: '0' } });

const stackLine = /^\s+at /m;

test('validate recipes/host.yaml exits 0 and says ok', () => {
  const { code, stdout, stderr } = mvos('validate', 'recipes/host.yaml');
  assert.is(code, 0, stderr);
  assert.match(stdout, /^ok\s+recipes\/host\.yaml: host multiverse-host/m);
  assert.is(stderr, '');
});

test('validate of a broken recipe exits 2 with file:line:col and the JSON path on stderr, and no stack trace', () => {
  const { code, stdout, stderr } = mvos('validate', broken);
  assert.is(code, 2);
  assert.ok(stderr.includes(`${broken}:10:5 /vms/controller/cpus: must be integer ≥ 1 (got "two")`), stderr);
  assert.match(stderr, /^error: 1 problem in 1 recipe$/m);
  assert.not.match(stderr, stackLine);
  assert.not.match(stderr, /\x1b\[/, 'colour codes despite NO_COLOR');
  assert.is(stdout, '');
});

test('validate --debug shows the stack trace', () => {
  const { code, stderr } = mvos('validate', broken, '--debug');
  assert.is(code, 2);
  assert.ok(stderr.includes(`${broken}:10:5 /vms/controller/cpus:`), stderr);
  assert.match(stderr, stackLine);
});

test('--help lists the verbs, validate among them', () => {
  const { code, stdout } = mvos('--help');
  assert.is(code, 0);
  assert.match(stdout, /usage: mvos <verb>/);
  assert.match(stdout, /^\s+validate\s+\S/m);
  assert.match(stdout, /^\s+build\s+\S/m);
});

test('validate --help exits 0 and shows its usage', () => {
  const { code, stdout, stderr } = mvos('validate', '--help');
  assert.is(code, 0, stderr);
  assert.match(stdout, /^usage: mvos validate/m);
  assert.match(stdout, /--json/);
});

test('an unknown verb exits 2 with a did-you-mean hint', () => {
  const { code, stderr } = mvos('valdate', 'recipes/host.yaml');
  assert.is(code, 2);
  assert.match(stderr, /unknown verb "valdate"/);
  assert.match(stderr, /did you mean `mvos validate`\?/);
  assert.not.match(stderr, stackLine);
});

test('an unknown flag exits 2 and names the flag', () => {
  const { code, stderr } = mvos('validate', '--frobnicate', 'recipes/host.yaml');
  assert.is(code, 2);
  assert.match(stderr, /--frobnicate/);
  assert.match(stderr, /mvos validate --help/);
  assert.not.match(stderr, stackLine);
});

test('validate --json of a broken recipe prints ok:false and problems with line and col', () => {
  const { code, stdout } = mvos('validate', broken, '--json');
  assert.is(code, 2);
  const report = JSON.parse(stdout) as {
    ok: boolean;
    recipes: Array<{
      file: string;
      ok: boolean;
      problems: Array<{ path: string; message: string; location: { file: string; line: number; col: number } }>;
    }>;
  };
  assert.is(report.ok, false);
  assert.is(report.recipes.length, 1);
  assert.is(report.recipes[0]!.ok, false);
  const [problem] = report.recipes[0]!.problems;
  assert.ok(problem, 'no problems in the JSON report');
  assert.equal(problem.location, { file: broken, line: 10, col: 5 });
  assert.is(problem.path, '/vms/controller/cpus');
  assert.match(problem.message, /must be integer ≥ 1/);
});

test('validate --json of a good recipe prints ok:true and exits 0', () => {
  const { code, stdout } = mvos('validate', 'recipes/host.yaml', '--json');
  assert.is(code, 0);
  const report = JSON.parse(stdout) as { ok: boolean; recipes: Array<{ ok: boolean; name: string }> };
  assert.is(report.ok, true);
  assert.is(report.recipes[0]!.name, 'multiverse-host');
});

test.run();
