import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError, formatProblem, must, UserError } from './errors.ts';

test('formatProblem renders file:line:col, the JSON path and the hint', () => {
  const text = formatProblem({
    location: { file: 'recipes/x.yaml', line: 12, col: 5 },
    path: '/vms/controller/cpus',
    message: 'must be integer ≥ 1 (got "two")',
    hint: 'write a whole number',
  });
  assert.is(
    text,
    'recipes/x.yaml:12:5 /vms/controller/cpus: must be integer ≥ 1 (got "two")\n  hint: write a whole number',
  );
});

test('formatProblem without a location prints the message alone', () => {
  assert.is(formatProblem({ message: 'no recipe given' }), 'no recipe given');
});

test('user errors exit 2, failures exit 1', () => {
  assert.is(new UserError('x').exitCode, 2);
  assert.is(new FailureError('x').exitCode, 1);
  assert.is(new UserError('x').name, 'UserError');
});

test('must returns a present value, falsy ones included, and throws a FailureError naming what is missing', () => {
  assert.is(must(0, 'a count'), 0);
  assert.is(must('', 'a name'), '');
  assert.is(must(null, 'a slot'), null);
  const error = (() => {
    try {
      must([1][1], 'the second item');
    } catch (e) {
      return e;
    }
  })();
  assert.instance(error, FailureError);
  assert.match((error as Error).message, /the second item is missing/);
});

test.run();
