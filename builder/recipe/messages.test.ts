import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closest, describeExpected, editDistance, showValue } from './messages.ts';

test('describes what a schema accepts', () => {
  assert.is(describeExpected({ type: 'integer', minimum: 1 }), 'integer ≥ 1');
  assert.is(describeExpected({ type: 'integer', minimum: 1, maximum: 9 }), 'integer from 1 to 9');
  assert.is(describeExpected({ type: 'string', enum: ['a', 'b'] }), 'one of "a", "b"');
  assert.is(describeExpected({ type: 'array', items: { type: 'integer', minimum: 0 } }), 'a list of integer ≥ 0');
  assert.is(describeExpected({ type: 'string', 'x-expected': 'a name' }), 'a name');
});

test('did-you-mean finds typos and ignores unrelated words', () => {
  assert.is(editDistance('kitten', 'sitting'), 3);
  assert.is(closest('memroy', ['memory', 'cpus']), 'memory');
  assert.is(closest('cmdlin', ['cmdline', 'modules']), 'cmdline');
  assert.is(closest('banana', ['memory', 'cpus']), undefined);
});

test('shows found values briefly', () => {
  assert.is(showValue('two'), '"two"');
  assert.is(showValue([1]), 'a list');
  assert.is(showValue({}), 'a mapping');
  assert.is(showValue('x'.repeat(100)).length, 60);
});

test.run();
