import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateTypes, readmePath, readmeWithReference, typesPath } from './generate.ts';

test('builder/recipe/schema.types.ts matches the schema (run `npm run gen` after editing the schema)', async () => {
  assert.is(readFileSync(typesPath, 'utf8'), await generateTypes());
});

test('the README recipe reference matches the schema (run `npm run gen` after editing the schema)', () => {
  const readme = readFileSync(readmePath, 'utf8');
  assert.is(readme, readmeWithReference(readme));
});

test('the reference names every VM field, nested ones included', () => {
  const readme = readFileSync(readmePath, 'utf8');
  for (const key of [
    'vms.controller.cpus',
    'vms.controller.fallback',
    'vms.rescue.memory',
    'vms.<name>.role',
    'vms.<name>.launch',
    'kernel.cmdline',
  ]) {
    assert.ok(readme.includes(`| \`${key}\` |`), key);
  }
});

test.run();
