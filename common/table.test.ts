// The one table renderer both programs print with: aligned columns, two spaces apart, nothing trailing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Column, dashWhenEmpty, renderTable } from './table.ts';

interface Row {
  name: string;
  note?: string;
}

const name: Column<Row> = { header: 'NAME', cell: (r) => r.name };
const note: Column<Row> = { header: 'NOTE', cell: (r) => r.note ?? '' };

test('each column is as wide as its widest cell, two spaces between, and a line ends with its last character', () => {
  assert.equal(renderTable([name, note], [{ name: 'controller', note: 'ready' }, { name: 'web' }]), [
    'NAME        NOTE',
    'controller  ready',
    'web',
  ]);
});

test('no rows: the header alone', () => {
  assert.equal(renderTable([name, note], []), ['NAME  NOTE']);
});

test('dashWhenEmpty puts - in an empty cell and leaves the others', () => {
  assert.equal(renderTable([dashWhenEmpty(note), name], [{ name: 'a', note: 'x' }, { name: 'b' }]), [
    'NOTE  NAME',
    'x     a',
    '-     b',
  ]);
});

test.run();
