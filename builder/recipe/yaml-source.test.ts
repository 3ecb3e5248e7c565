import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { locate, parseYaml, pointerSegment } from './yaml-source.ts';

test('every value gets a place: keys for members, values for list items', () => {
  const parsed = parseYaml('kind: host\nvms:\n  controller:\n    cpus: two\n    pin:\n      - 1\n      - 2\n', 'x.yaml');
  assert.equal(parsed.problems, []);
  assert.equal(locate(parsed.locations, '/vms/controller/cpus'), { file: 'x.yaml', line: 4, col: 5 });
  assert.equal(locate(parsed.locations, '/vms/controller/pin/1'), { file: 'x.yaml', line: 7, col: 9 });
  assert.equal(locate(parsed.locations, '/vms/controller/memory'), { file: 'x.yaml', line: 3, col: 3 }, 'a missing key falls back to its parent');
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

test.run();
