import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hashPassword, verifyPassword } from './password.ts';

test('a hash has the scrypt$N$r$p$salt$hash shape and verifies only its own password', async () => {
  const hash = await hashPassword('correct horse');
  assert.match(hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
  assert.ok(await verifyPassword(hash, 'correct horse'));
  assert.not.ok(await verifyPassword(hash, 'correct horsE'));
  assert.not.ok(await verifyPassword(hash, ''));
  assert.is.not(await hashPassword('correct horse'), hash, 'a fresh salt each time');
});

test('malformed or unreasonably costly hashes are false, never an error', async () => {
  const hash = await hashPassword('pw');
  const parts = hash.split('$');
  const bad = [
    '',
    'pw',
    'scrypt',
    hash.replace('scrypt', 'bcrypt'),
    parts.slice(0, 5).join('$'),
    `${hash}$x`,
    [parts[0], '1000', ...parts.slice(2)].join('$'),
    [parts[0], String(1 << 24), ...parts.slice(2)].join('$'),
    [parts[0], parts[1], '0', ...parts.slice(3)].join('$'),
    [...parts.slice(0, 4), '!!!', parts[5]].join('$'),
    [...parts.slice(0, 5), 'AAAA'].join('$'),
  ];
  for (const stored of bad) assert.not.ok(await verifyPassword(stored, 'pw'), stored);
});

test('Unicode passwords compare in one normal form', async () => {
  const hash = await hashPassword('caf\u00e9');
  assert.ok(await verifyPassword(hash, 'cafe\u0301'));
});

test.run();
