import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { guidBytes, readGuid } from './guid.ts';

test('a GUID survives encode and decode, in the mixed-endian layout', () => {
  const text = 'fff12b8d-7696-4c8b-a985-2747075b4f50';
  const bytes = guidBytes(text);
  assert.is(bytes.toString('hex'), '8d2bf1ff96768b4ca9852747075b4f50');
  assert.is(readGuid(bytes, 0), text);
});

test('a malformed GUID is refused', () => {
  assert.throws(() => guidBytes('nope'), /not a GUID/);
});

test.run();
