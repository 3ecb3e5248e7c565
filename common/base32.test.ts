import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { base32, base32Decode } from './base32.ts';

test('base32 is RFC 4648 without padding (its test vectors)', () => {
  const vectors: Array<[string, string]> = [
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ];
  for (const [plain, encoded] of vectors) {
    assert.is(base32(Buffer.from(plain)), encoded);
    assert.is(base32Decode(encoded).toString(), plain);
    assert.is(base32Decode(encoded.toLowerCase()).toString(), plain);
  }
  assert.throws(() => base32Decode('MZ1'), /not base32/);
});

test.run();
