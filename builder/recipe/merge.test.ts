import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mergeLocations, mergeRecipeData } from './merge.ts';
import { parseYaml } from './yaml-source.ts';

test('objects merge key by key, lists and scalars are replaced, null removes', () => {
  const base = { name: 'a', kernel: { package: 'k', cmdline: ['x', 'y'] }, packages: ['p', 'q'], drop: ['d'] };
  const child = { name: 'b', kernel: { cmdline: ['z'] }, packages: ['r'], drop: null };
  assert.equal(mergeRecipeData(base, child), { name: 'b', kernel: { package: 'k', cmdline: ['z'] }, packages: ['r'] });
});

test('locations follow the value: inherited keys point at the base, overridden ones at the child', () => {
  const base = parseYaml('name: a\nkernel:\n  package: k\n  cmdline: [x, y, z]\n', 'base.yaml');
  const child = parseYaml('name: b\nkernel:\n  cmdline: [w]\n', 'child.yaml');
  const merged = mergeLocations(base.locations, child.locations, child.data);
  assert.equal(merged.get('/name')?.key, { file: 'child.yaml', line: 1, col: 1 });
  assert.equal(merged.get('/kernel/package')?.key, { file: 'base.yaml', line: 3, col: 3 });
  assert.equal(merged.get('/kernel/cmdline/0')?.value, { file: 'child.yaml', line: 3, col: 13 });
  assert.is(merged.get('/kernel/cmdline/2'), undefined, 'items of a replaced base list are forgotten');
});

test.run();
