import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderTemplate, templateReferences } from './templates.ts';

test("references: top-level names with positions; names inside each/with blocks are the block item's", () => {
  const refs = templateReferences(
    'hi {{name}}\n{{#if flag}}{{a.b}}{{/if}}{{#each vms}}{{cpus}}{{/each}}{{lookup vars "k"}}',
  );
  assert.equal(
    refs.map((r) => r.name),
    ['name', 'flag', 'a', 'vms', 'vars'],
  );
  assert.equal([refs[0]!.line, refs[0]!.col], [1, 6]);
  assert.equal([refs[1]!.line, refs[1]!.col], [2, 7]);
});

test('rendering is strict: a missing name throws instead of printing nothing', () => {
  assert.is(renderTemplate('{{a}}-{{b.c}}', { a: 1, b: { c: '<x>' } }), '1-<x>');
  assert.throws(() => renderTemplate('{{missing}}', { a: 1 }), /missing/);
});

test.run();
