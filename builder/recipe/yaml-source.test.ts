import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { locate, parseYaml, pointerSegment, YAML_LIMITS } from './yaml-source.ts';

test('every value gets a place: keys for members, values for list items', () => {
  const parsed = parseYaml(
    'kind: host\nvms:\n  controller:\n    cpus: two\n    pin:\n      - 1\n      - 2\n',
    'x.yaml',
  );
  assert.equal(parsed.problems, []);
  assert.equal(locate(parsed.locations, '/vms/controller/cpus'), { file: 'x.yaml', line: 4, col: 5 });
  assert.equal(locate(parsed.locations, '/vms/controller/pin/1'), { file: 'x.yaml', line: 7, col: 9 });
  assert.equal(
    locate(parsed.locations, '/vms/controller/memory'),
    { file: 'x.yaml', line: 3, col: 3 },
    'a missing key falls back to its parent',
  );
});

test('syntax errors come back as problems with positions, and no data', () => {
  const parsed = parseYaml('kind: host\nkind: guest\n', 'dup.yaml');
  assert.is(parsed.data, undefined);
  assert.is(parsed.problems.length, 1);
  assert.equal(parsed.problems[0]!.location, { file: 'dup.yaml', line: 2, col: 1 });
  assert.match(parsed.problems[0]!.message, /YAML syntax error/);
  assert.ok(parsed.problems[0]!.hint);
});

test('pointer segments escape ~ and /', () => {
  assert.is(pointerSegment('a/b~c'), 'a~1b~0c');
});

// Resource-exhaustion shapes: each is refused as a positioned problem (never a throw), quickly.
const header = 'kind: host\nname: h\nversion: 0.1.0\n';
const bombs: Array<[string, string, RegExp, number]> = [
  [
    'an alias bomb',
    `${header}a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n`,
    /aliases/,
    5,
  ],
  [
    '100,000 nested flow brackets',
    `${header}x: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`,
    /nested more than 64/,
    4,
  ],
  [
    'deep block nesting',
    `${header}${Array.from({ length: 500 }, (_, i) => `${' '.repeat(i)}k:\n`).join('')}`,
    /nested more than 64/,
    68,
  ],
  ['a 200 KiB scalar', `${header}description: ${'a'.repeat(200 * 1024)}\n`, /value is 200 KiB/, 4],
  ['a 1 MiB file', `${header}description: ${'a'.repeat(1024 * 1024)}\n`, /at most 256 KiB/, 1],
  [
    '25,000 keys',
    `${header}${Array.from({ length: 25_000 }, (_, i) => `k${i}: 1\n`).join('')}`,
    /more than 10000 values/,
    20_001,
  ],
  [
    '15,000 keys',
    `${header}${Array.from({ length: 15_000 }, (_, i) => `k${i}: 1\n`).join('')}`,
    /more than 10000 values/,
    10_000,
  ],
];
for (const [name, text, message, line] of bombs) {
  test(`${name} is a positioned problem within a second`, () => {
    const started = performance.now();
    const parsed = parseYaml(text, 'bomb.yaml');
    const took = performance.now() - started;
    assert.is(parsed.data, undefined);
    assert.is(parsed.problems.length, 1, parsed.problems.map((p) => p.message).join('; '));
    assert.match(parsed.problems[0]!.message, message);
    assert.is(parsed.problems[0]!.location?.file, 'bomb.yaml');
    assert.is(parsed.problems[0]!.location?.line, line);
    // A bound on the work, not a benchmark: these took minutes (quadratic key checks) or threw before; on an idle
    // machine each is well under a second, and a loaded CI core may take a few times that.
    assert.ok(took < 4000, `took ${took.toFixed(0)} ms`);
  });
}

test('duplicate keys are still found, in a mapping of many keys, in linear time', () => {
  const keys = Array.from({ length: YAML_LIMITS.nodes - 10 }, (_, i) => `k${i}: 1\n`).join('');
  const started = performance.now();
  const parsed = parseYaml(`${keys}k7: 2\n`, 'dup.yaml');
  assert.ok(performance.now() - started < 4000);
  assert.is(parsed.problems.length, 1);
  assert.match(parsed.problems[0]!.message, /Map keys must be unique/);
  assert.equal(parsed.problems[0]!.location, { file: 'dup.yaml', line: YAML_LIMITS.nodes - 9, col: 1 });
});

test('a few aliases in a real recipe still work', () => {
  const parsed = parseYaml('base: &b { cpus: 2 }\nvms:\n  a: *b\n  c: *b\n', 'ok.yaml');
  assert.equal(parsed.problems, []);
  assert.equal(parsed.data, { base: { cpus: 2 }, vms: { a: { cpus: 2 }, c: { cpus: 2 } } });
});

test.run();
