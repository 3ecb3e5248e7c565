import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../temp-dir.ts';
import { parsePublicKey, publicKeyFile, SignatureError, signMinisign, verifyMinisign } from './minisign.ts';

const { privateKey } = generateKeyPairSync('ed25519');
const message = Buffer.from('the manifest of an update\n');

function refused(call: () => unknown, words: string): void {
  try {
    call();
  } catch (error) {
    assert.instance(error, SignatureError);
    assert.match((error as Error).message, words);
    return;
  }
  assert.unreachable(`not refused: ${words}`);
}

test('our signature checks with our key, and says what its trusted comment is', () => {
  const signature = signMinisign(privateKey, message, 'host multiverse-host 0.2.0');
  const key = parsePublicKey(publicKeyFile(privateKey));
  assert.equal(verifyMinisign(key, signature, message), { trustedComment: 'host multiverse-host 0.2.0' });
});

test('refused: another key, a changed message, a changed trusted comment, a malformed file', () => {
  const signature = signMinisign(privateKey, message, 'v2');
  const other = parsePublicKey(publicKeyFile(generateKeyPairSync('ed25519').privateKey));
  refused(() => verifyMinisign(other, signature, message), 'not by the trusted key');
  const key = parsePublicKey(publicKeyFile(privateKey));
  refused(() => verifyMinisign(key, signature, Buffer.from('the manifest of an update?\n')), 'does not match');
  refused(
    () => verifyMinisign(key, signature.replace('trusted comment: v2', 'trusted comment: v9'), message),
    'changed',
  );
  refused(() => verifyMinisign(key, 'hello\n', message), 'not a minisign signature');
  const lines = signature.split('\n');
  lines[1] = lines[1]!.slice(0, -4);
  refused(() => verifyMinisign(key, lines.join('\n'), message), 'signature');
  assert.throws(() => signMinisign(privateKey, message, 'two\nlines'), /one line/);
});

// A tool we did not write: minisign from Debian checks our signature with our public key file, and we check its.
test('minisign verifies what we sign, and we verify what minisign signs', () =>
  withTempDir('mvos-minisign-', async (dir) => {
    const probe = spawnSync('minisign', ['-v'], { encoding: 'utf8' });
    if (probe.error) {
      console.log('minisign is not installed (mvos doctor --fix): skipped');
      return;
    }
    const file = join(dir, 'manifest.json');
    writeFileSync(file, message);
    writeFileSync(`${file}.minisig`, signMinisign(privateKey, message, 'host test 1.0.0'));
    writeFileSync(join(dir, 'update.pub'), publicKeyFile(privateKey));
    const ours = spawnSync('minisign', ['-V', '-p', join(dir, 'update.pub'), '-m', file], { encoding: 'utf8' });
    assert.is(ours.status, 0, `${ours.stdout}${ours.stderr}`);
    assert.match(ours.stdout, 'Trusted comment: host test 1.0.0');
    writeFileSync(file, Buffer.concat([message, Buffer.from('x')]));
    const changed = spawnSync('minisign', ['-V', '-p', join(dir, 'update.pub'), '-m', file], { encoding: 'utf8' });
    assert.is.not(changed.status, 0, 'minisign refuses a changed file');

    const made = spawnSync('minisign', ['-G', '-W', '-p', join(dir, 'their.pub'), '-s', join(dir, 'their.key')], {
      encoding: 'utf8',
    });
    assert.is(made.status, 0, made.stderr);
    writeFileSync(file, message);
    const signed = spawnSync('minisign', ['-S', '-s', join(dir, 'their.key'), '-m', file, '-t', 'theirs'], {
      encoding: 'utf8',
    });
    assert.is(signed.status, 0, signed.stderr);
    const theirs = parsePublicKey(readFileSync(join(dir, 'their.pub'), 'utf8'));
    assert.equal(verifyMinisign(theirs, readFileSync(`${file}.minisig`, 'utf8'), message), {
      trustedComment: 'theirs',
    });
  }));

test.run();
