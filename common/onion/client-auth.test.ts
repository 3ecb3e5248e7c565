import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { base32, base32Decode } from '../base32.ts';
import { authorizedClientLine, authPrivateLine, onionAuthKeypair, onionAuthKeysFromPrivate } from './client-auth.ts';

// RFC 7748 section 6.1, Alice's x25519 keys; the base32 forms are what coreutils `base32` makes of the raw bytes.
const RFC7748_PRIVATE = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const RFC7748_PUBLIC = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const PRIVATE_BASE32 = 'O4DW2CTTDCSX2PAWYFZFDMTGIXPUYL4H5PAJSKVRO752KHNZFQVA';
const PUBLIC_BASE32 = 'QUQPACMJGCTVI5ELPXOLIPXXLIG36OQNEY4BV5HLUSUY5KU3JZVA';
const ONION = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';

test('the RFC 7748 keypair in the base32 forms Tor reads', () => {
  assert.is(base32(Buffer.from(RFC7748_PRIVATE, 'hex')), PRIVATE_BASE32);
  assert.equal(onionAuthKeysFromPrivate(PRIVATE_BASE32), { publicKey: PUBLIC_BASE32, privateKey: PRIVATE_BASE32 });
  assert.is(base32Decode(PUBLIC_BASE32).toString('hex'), RFC7748_PUBLIC);
  assert.is(authorizedClientLine(PUBLIC_BASE32), `descriptor:x25519:${PUBLIC_BASE32}`);
  assert.is(authPrivateLine(`${ONION}.onion`, PRIVATE_BASE32), `${ONION}:descriptor:x25519:${PRIVATE_BASE32}`);
  assert.is(authPrivateLine(ONION, PRIVATE_BASE32), `${ONION}:descriptor:x25519:${PRIVATE_BASE32}`);
  assert.throws(() => authPrivateLine('example.onion', PRIVATE_BASE32), /not a v3 onion address/);
});

test('a fresh keypair: 52 characters each, the public half derived from the private one', () => {
  const keys = onionAuthKeypair();
  assert.match(keys.publicKey, /^[A-Z2-7]{52}$/);
  assert.match(keys.privateKey, /^[A-Z2-7]{52}$/);
  assert.equal(onionAuthKeysFromPrivate(keys.privateKey), keys);
  assert.is.not(onionAuthKeypair().privateKey, keys.privateKey);
});

// Tor's own instructions make the keys with openssl: the last 32 bytes of the DER keys, in base32.
test("the same keys as Tor's openssl recipe", () => {
  const pem = spawnSync('openssl', ['genpkey', '-algorithm', 'x25519'], { encoding: 'utf8' });
  if (pem.status !== 0) {
    console.log('openssl unavailable: skipped');
    return;
  }
  const der = (args: string[]) =>
    spawnSync('openssl', ['pkey', ...args, '-outform', 'DER'], { input: pem.stdout }).stdout.subarray(-32);
  const privateKey = base32(der([]));
  assert.equal(onionAuthKeysFromPrivate(privateKey), { publicKey: base32(der(['-pubout'])), privateKey });
});

test.run();
