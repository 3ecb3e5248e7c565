import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSize } from './cache.ts';

test('sizes for --keep-recent: bytes, K/M/G/T in powers of 1024, an optional B or iB', () => {
  assert.is(parseSize('2048'), 2048);
  assert.is(parseSize('512M'), 512 * 1024 ** 2);
  assert.is(parseSize('10G'), 10 * 1024 ** 3);
  assert.is(parseSize('1.5GiB'), 1.5 * 1024 ** 3);
  assert.is(parseSize('3kb'), 3072);
  for (const bad of ['', 'G', '-1G', '10 GB', 'ten'])
    assert.throws(() => parseSize(bad), /--keep-recent takes a size like 10G/);
});

test.run();
