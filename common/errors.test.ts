import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatProblem, UserError, FailureError } from './errors.ts';

test('formatProblem renders file:line:col, the JSON path and the hint', () => {
  const text = formatProblem({
    location: { file: 'recipes/x.yaml', line: 12, col: 5 },
    path: '/vms/controller/cpus',
    message: 'must be integer ≥ 1 (got "two")',
    hint: 'write a whole number',
  });
  assert.is(text, 'recipes/x.yaml:12:5 /vms/controller/cpus: must be integer ≥ 1 (got "two")\n  hint: write a whole number');
});

test('formatProblem without a location prints the message alone', () => {
  assert.is(formatProblem({ message: 'no recipe given' }), 'no recipe given');
});

test('user errors exit 2, failures exit 1', () => {
  assert.is(new UserError('x').exitCode, 2);
  assert.is(new FailureError('x').exitCode, 1);
  assert.is(new UserError('x').name, 'UserError');
});

test.run();
