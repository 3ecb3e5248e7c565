import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../temp-dir.ts';
import { isOnionAddress, isSecretKeyFile, newOnionServiceKey, onionAddress, onionServiceKey } from './service-key.ts';

// RFC 8032 section 7.1, test 1: the seed and its public key.
const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

test('the RFC 8032 key: its public half, the files Tor reads, a checked address', () => {
  const key = onionServiceKey(Buffer.from(RFC8032_SEED, 'hex'));
  assert.is(key.publicKeyFile.subarray(32).toString('hex'), RFC8032_PUBLIC);
  assert.is(key.secretKeyFile.length, 96);
  assert.is(key.secretKeyFile.subarray(0, 29).toString(), '== ed25519v1-secret: type0 ==');
  assert.ok(isSecretKeyFile(key.secretKeyFile));
  // Clamped as RFC 8032 says: the low three bits clear, bit 254 set, bit 255 clear.
  assert.is(key.secretKeyFile[32]! & 7, 0);
  assert.is(key.secretKeyFile[63]! & 0xc0, 0x40);
  assert.match(key.address, /^[a-z2-7]{56}\.onion$/);
  assert.is(onionAddress(Buffer.from(RFC8032_PUBLIC, 'hex')), key.address);
  assert.ok(isOnionAddress(key.address));
  assert.ok(isOnionAddress(key.address.replace('.onion', '')));
  // One character off: the checksum no longer holds.
  const off = key.address[0] === 'a' ? `b${key.address.slice(1)}` : `a${key.address.slice(1)}`;
  assert.not.ok(isOnionAddress(off));
  assert.not.ok(isOnionAddress('example.onion'));
  assert.not.ok(isSecretKeyFile(Buffer.alloc(96)));
});

// What Tor itself makes of our key file: the hostname it writes must be our address.
test('tor reads our secret key file and names the same address', async () => {
  const key = newOnionServiceKey();
  await withTempDir('mvos-onion-key-', async (dir) => {
    const service = join(dir, 'service');
    await mkdir(service, { mode: 0o700 });
    await writeFile(join(service, 'hs_ed25519_secret_key'), key.secretKeyFile, { mode: 0o600 });
    const torrc = [
      `DataDirectory ${join(dir, 'data')}`,
      'DisableNetwork 1',
      'SocksPort 0',
      `HiddenServiceDir ${service}`,
      'HiddenServicePort 80 127.0.0.1:9',
      `Log notice file ${join(dir, 'notice.log')}`,
    ].join('\n');
    await writeFile(join(dir, 'torrc'), `${torrc}\n`);
    const tor = spawn('tor', ['-f', join(dir, 'torrc'), '--defaults-torrc', '/dev/null'], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 30_000;
      let hostname = '';
      while (!hostname && Date.now() < deadline) {
        hostname = (await readFile(join(service, 'hostname'), 'utf8').catch(() => '')).trim();
        if (!hostname) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.is(hostname, key.address);
      const written = await readFile(join(service, 'hs_ed25519_public_key'));
      assert.ok(written.equals(key.publicKeyFile), 'the public key file tor wrote is ours');
    } finally {
      tor.kill('SIGKILL');
    }
  });
});

test.run();
