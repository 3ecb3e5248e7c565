// The broken-recipe corpus: every fixture in fixtures/broken/ states, in `# expect:` lines, each problem `mvos
// validate` must report (file:line:col, JSON path, message substring); no more, no fewer, and never a stack trace.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../cli/main.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
process.chdir(root);
const brokenDir = fileURLToPath(new URL('./fixtures/broken/', import.meta.url));
const fixtures = readdirSync(brokenDir)
  .filter((name) => /^\d\d-[a-z0-9-]+\.yaml$/.test(name))
  .sort()
  .map((name) => relative(root, join(brokenDir, name)));

// One `# expect:` line: where the problem is, its JSON pointer (undefined for `-`) and a substring of its message.
interface Expectation {
  file: string;
  line: number;
  col: number;
  pointer?: string;
  message: string;
  text: string;
}

const problemLine = /^\S+:\d+:\d+ /;

function parseExpectations(fixture: string): Expectation[] {
  const expectations: Expectation[] = [];
  for (const text of readFileSync(fixture, 'utf8').split('\n')) {
    if (!text.startsWith('#')) break;
    const m = /^# expect: (?:(\S+):)?(\d+):(\d+) (\S+) (.+)$/.exec(text);
    if (!m) {
      if (text.startsWith('# expect:')) throw new Error(`${fixture}: malformed expect line: ${text}`);
      continue;
    }
    expectations.push({
      file: m[1] ?? fixture,
      line: Number(m[2]),
      col: Number(m[3]),
      pointer: m[4] === '-' ? undefined : m[4],
      message: m[5]!,
      text,
    });
  }
  return expectations;
}

async function validate(
  fixture: string,
  extra: string[] = [],
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['validate', fixture, '--no-color', ...extra], {
    out: (l) => out.push(...l.split('\n')),
    err: (l) => err.push(...l.split('\n')),
  });
  return { code, out, err };
}

test('the corpus has at least 28 broken recipes', () => {
  assert.ok(fixtures.length >= 28, `only ${fixtures.length} fixtures`);
});

test('every fixture states at least one expectation', () => {
  for (const fixture of fixtures) assert.ok(parseExpectations(fixture).length > 0, `${fixture} has no # expect: line`);
});

for (const fixture of fixtures) {
  const name = fixture.split('/').pop()!;
  test(name, async () => {
    const expectations = parseExpectations(fixture);
    const { code, err } = await validate(fixture);
    const output = err.join('\n');
    const show = `\n--- output of mvos validate ${fixture}:\n${output}\n---`;
    assert.not.ok(
      err.some((l) => /^\s+at /.test(l)),
      `stack trace in the output${show}`,
    );
    assert.is(code, 2, `exit code${show}`);
    const problems = err.filter((l) => problemLine.test(l));
    for (const e of expectations) {
      const head = `${e.file}:${e.line}:${e.col} ${e.pointer !== undefined ? `${e.pointer}: ` : ''}`;
      const found = problems.some(
        (p) =>
          p.startsWith(head) &&
          (e.pointer !== undefined || !/^\/\S*: /.test(p.slice(head.length))) &&
          p.slice(head.length).includes(e.message),
      );
      assert.ok(found, `expected a problem line starting with "${head}" containing "${e.message}"${show}`);
    }
    assert.is(
      problems.length,
      expectations.length,
      `number of problem lines (expected exactly the # expect: lines, no extra or duplicate problems)${show}`,
    );
    // Problems are listed as an editor would: by file, then line, then column.
    const sorted = [...problems].sort((a, b) => {
      const [fa, la, ca] = a.split(' ')[0]!.split(':');
      const [fb, lb, cb] = b.split(' ')[0]!.split(':');
      return fa! < fb! ? -1 : fa! > fb! ? 1 : Number(la) - Number(lb) || Number(ca) - Number(cb);
    });
    assert.equal(problems, sorted, `problems not in file/line order${show}`);
  });
}

// Did-you-mean hints on the fixtures whose mistake is a likely typo.
const hints: Array<[string, string]> = [
  ['03-unknown-top-level-key.yaml', 'did you mean "packages"?'],
  ['04-unknown-nested-key.yaml', 'did you mean "modules"?'],
  ['57-unknown-vm-key.yaml', 'did you mean "cpus"?'],
];
for (const [name, hint] of hints) {
  test(`${name} hints ${hint}`, async () => {
    const fixture = fixtures.find((f) => f.endsWith(`/${name}`));
    assert.ok(fixture, `no fixture ${name}`);
    const { err } = await validate(fixture);
    assert.ok(
      err.some((l) => /^\s+hint: /.test(l) && l.includes(hint)),
      `no hint "${hint}" in:\n${err.join('\n')}`,
    );
  });
}

test('--json reports the same problems with their locations', async () => {
  const fixture = fixtures.find((f) => f.endsWith('/47-several-problems.yaml'))!;
  const { code, out } = await validate(fixture, ['--json']);
  assert.is(code, 2);
  const report = JSON.parse(out.join('\n')) as {
    ok: boolean;
    recipes: Array<{ problems: Array<{ path?: string; location?: { file: string; line: number; col: number } }> }>;
  };
  assert.is(report.ok, false);
  const got = report.recipes[0]!.problems.map((p) => `${p.location?.line}:${p.location?.col} ${p.path}`);
  const want = parseExpectations(fixture).map((e) => `${e.line}:${e.col} ${e.pointer}`);
  assert.equal(got, want);
});

test.run();
