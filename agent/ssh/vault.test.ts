// The vault in the SSH jail: its state, unlocked with the passphrase on stdin (never a word of the command, so never in
// the audit log), `otp NAME` equal to oathtool, `ssh-cert` for the very key the login used, and the jail's words still
// checked.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VaultService } from '../vault/service.ts';
import { connect, run, startFixture } from './fixture.test-support.ts';

const PASS = 'jail vault passphrase';
const SEED = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

test('vault status, unlock from stdin, otp NAME, ssh-cert for the login key; bad words refused', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mvos-ssh-vault-'));
  const vault = await VaultService.open(join(root, 'state'));
  await vault.create(PASS, 'alice');
  await vault.put('github', { kind: 'totp', secret: SEED, digits: 6, period: 30, algorithm: 'sha1' });
  vault.lock('alice');
  const f = await startFixture({ vault });
  try {
    const client = await connect(f.server.port, { key: f.alice.privateKey, code: await f.code() });
    const locked = await run(client, 'vault');
    assert.is(locked.code, 0, locked.stderr);
    assert.match(locked.stdout, /^vault locked\nssh CA ssh-ed25519 \S+ mvos-vault-ca\n$/);
    const early = await run(client, 'otp github');
    assert.is(early.code, 1);
    assert.match(early.stderr, /conflict: the vault is locked: unlock it first/);
    const wrong = await run(client, 'vault unlock', {}, Buffer.from('not it\n'));
    assert.is(wrong.code, 1);
    assert.match(wrong.stderr, /invalid: wrong passphrase \(1 failed in a row\)/);
    const empty = await run(client, 'vault unlock', {}, Buffer.alloc(0));
    assert.is(empty.code, 2);
    assert.match(empty.stderr, /send the passphrase as one line on stdin/);
    const unlocked = await run(client, 'vault unlock', {}, Buffer.from(`${PASS}\n`));
    assert.is(unlocked.code, 0, unlocked.stderr);
    assert.is(unlocked.stdout, 'vault unlocked, 2 entries\n');
    const listed = await run(client, 'vault status');
    assert.match(listed.stdout, /NAME\s+KIND\s+VM\ngithub\s+totp\s+-\nssh-ca\s+ssh-key\s+-/);

    const code = await run(client, 'otp github');
    assert.is(code.code, 0, code.stderr);
    const oath = spawnSync('oathtool', ['--totp', '-b', SEED], { encoding: 'utf8' }).stdout.trim();
    assert.is(code.stdout.trim(), oath);
    assert.match((await run(client, 'otp nothing')).stderr, /not-found: the vault has no entry named "nothing"/);

    const cert = await run(client, 'ssh-cert 10m from=192.0.2.5');
    assert.is(cert.code, 0, cert.stderr);
    const certFile = join(root, 'alice-cert.pub');
    await writeFile(certFile, cert.stdout);
    const shown = spawnSync('ssh-keygen', ['-L', '-f', certFile], { encoding: 'utf8' });
    assert.is(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /Principals: \n\s+alice\n/);
    assert.match(shown.stdout, /source-address 192\.0\.2\.5\/32/);
    const loginKey = join(root, 'alice.pub');
    await writeFile(loginKey, `${f.alice.publicKey}\n`);
    const print = (file: string) =>
      spawnSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }).stdout.split(' ')[1];
    assert.ok(shown.stdout.includes(`Public key: ED25519-CERT ${print(loginKey)}`), 'the key the login used');
    for (const [words, why] of [
      ['ssh-cert 13h', /a certificate lives 60 s to 12 h/],
      ['ssh-cert 10m 20m', /takes a lifetime .* not "20m"/],
      ['ssh-cert forever', /takes a lifetime/],
      ['ssh-cert from=192.0.2.0-24', /not an IP address/],
      ['otp', /needs more arguments/],
      ['vault open', /unknown command `vault open`/],
    ] as const) {
      const out = await run(client, words);
      assert.ok(out.code !== 0, `${words}: ${out.stdout}`);
      assert.match(out.stderr + out.stdout, why, words);
    }
    const locking = await run(client, 'vault lock');
    assert.match(locking.stdout, /^vault locked/);
    await f.server.audit.close();
    const audit = await readFile(f.server.audit.file, 'utf8');
    assert.match(audit, /vault unlock/);
    assert.not.ok(audit.includes(PASS), 'the passphrase is in no audit line');
    client.end();
  } finally {
    await f.cleanup();
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
