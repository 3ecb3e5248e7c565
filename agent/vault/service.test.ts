// The agent's vault: made with a CA and custodians, locked and unlocked by passphrase or by T shares (T−1 refused),
// attempts bounded before scrypt runs, codes equal oathtool's, certificates as ssh-keygen reads them, each secret only to
// its own VM, and nothing stored readable anywhere under the state folder while locked.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ControlError } from '../controls.ts';
import { CA_ENTRY, VaultService } from './service.ts';

const PASS = 'a long passphrase for the vault';
const SEED = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
let dir: string;

test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'mvos-vault-service-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<ControlError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    assert.instance(error, ControlError);
    return error as ControlError;
  }
  throw new Error('it was not refused');
}

function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .map((name) => join(root, name))
    .filter((path) => statSync(path).isFile());
}

test('made, filled, locked: no stored value is in any file under the state folder, in any encoding', async () => {
  const service = await VaultService.open(dir);
  assert.is(service.view().state, 'none');
  await service.create(PASS, 'alice');
  const values = ['router-password-3f9a1c', SEED, 'db-password-77e1b0'];
  await service.put('router-admin', { kind: 'password', secret: values[0]! });
  await service.put('github', { kind: 'totp', secret: SEED, digits: 6, period: 30, algorithm: 'sha1' });
  await service.put('db', { kind: 'password', secret: values[2]!, vm: 'app' });
  const caPem = (await VaultService.open(dir)).view().caPublicKey;
  assert.match(caPem ?? '', /^ssh-ed25519 \S+ mvos-vault-ca$/, 'the CA public key is kept in plain');
  service.lock('alice');
  assert.is(service.view().state, 'locked');
  assert.is(service.view().entries, undefined);
  const forms = values.flatMap((v) => [v, Buffer.from(v).toString('base64'), Buffer.from(v).toString('hex')]);
  for (const file of filesUnder(dir)) {
    const bytes = readFileSync(file);
    for (const form of forms) assert.not.ok(bytes.includes(form), `${file} holds ${form}`);
    assert.not.ok(bytes.includes('PRIVATE KEY'), `${file} holds the CA's private key`);
  }
  assert.match((await refusal(service.code('github'))).message, /the vault is locked/);
});

test('the passphrase unlocks; a wrong one is counted before scrypt, and past the free ones each try waits', async () => {
  let now = 1_800_000_000_000;
  const made = await VaultService.open(dir);
  await made.create(PASS, 'alice');
  const service = await VaultService.open(dir, { now: () => now, unlock: { freeFailures: 2, firstWaitMs: 10_000 } });
  assert.is(service.view().state, 'locked');
  for (let i = 1; i <= 2; i++) {
    const wrong = await refusal(service.unlock({ passphrase: `wrong ${i}` }, 'mallory'));
    assert.match(wrong.message, new RegExp(`wrong passphrase \\(${i} failed in a row\\)`));
  }
  // Two failures, two free: the next try waits 10 s, and is refused at once without running scrypt.
  const started = Date.now();
  const waiting = await refusal(service.unlock({ passphrase: PASS }, 'alice'));
  assert.is(waiting.kind, 'limited');
  assert.match(waiting.message, /2 failed unlock attempts in a row: try again in 10 s/);
  assert.ok(Date.now() - started < 30, 'refused before any key derivation');
  now += 10_000;
  assert.match((await refusal(service.unlock({ passphrase: 'wrong 3' }, 'mallory'))).message, /3 failed in a row/);
  // Each failure past the free ones doubles the wait.
  assert.equal(service.view().unlock, { failures: 3, retryAfterSeconds: 20 });
  now += 20_000;
  // Two at once: the second is refused while the first derives.
  const first = service.unlock({ passphrase: PASS }, 'alice');
  assert.match((await refusal(service.unlock({ passphrase: PASS }, 'alice'))).message, /in progress/);
  assert.is((await first).state, 'unlocked');
  assert.equal(service.view().unlock, { failures: 0 });
});

test('custodians: any T shares unlock, T−1 are refused and named, a share of another vault is refused', async () => {
  const service = await VaultService.open(dir);
  const { cards, view } = await service.create(PASS, 'alice', { threshold: 3, shares: 5, label: 'host vault' });
  assert.is(cards.length, 5);
  assert.equal(view.recovery && { t: view.recovery.threshold, n: view.recovery.shares }, { t: 3, n: 5 });
  await service.put('note', { kind: 'password', secret: 'kept-through-recovery' });
  service.lock('alice');
  const few = await refusal(service.unlock({ shares: [cards[0]!, cards[3]!] }, 'bob'));
  assert.match(few.message, /needs any 3 of its 5 shares; 2 given \(1, 4\)/);
  const other = mkdtempSync(join(tmpdir(), 'mvos-vault-other-'));
  const foreign = (await (await VaultService.open(other)).create(PASS, 'x', { threshold: 2, shares: 3, label: 'x' }))
    .cards[0]!;
  rmSync(other, { recursive: true, force: true });
  const mixed = await refusal(service.unlock({ shares: [cards[0]!, cards[1]!, foreign] }, 'bob'));
  assert.match(mixed.message, /share 3: share 1 does not belong to this sealed folder/);
  const opened = await service.unlock({ shares: [cards[4]!, cards[1]!, cards[2]!] }, 'bob');
  assert.is(opened.state, 'unlocked');
  assert.ok(opened.entries!.some((e) => e.name === 'note'));
});

test('codes equal oathtool for the same seed; an HOTP counter moves on', async () => {
  const now = Date.now();
  const service = await VaultService.open(dir, { now: () => now });
  await service.create(PASS, 'alice');
  await service.put('github', { kind: 'totp', secret: SEED, digits: 6, period: 30, algorithm: 'sha1' });
  await service.put('token', { kind: 'hotp', secret: SEED, digits: 8, counter: 5 });
  const at = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
  const oath = (args: string[]) => spawnSync('oathtool', args, { encoding: 'utf8' }).stdout.trim();
  const totp = await service.code('github');
  assert.is(totp.code, oath(['--totp', '-b', '--now', at, SEED]));
  assert.ok(totp.validForSeconds! >= 1 && totp.validForSeconds! <= 30);
  assert.is((await service.code('token')).code, oath(['-b', '-d', '8', '-c', '5', SEED]));
  assert.is((await service.code('token')).code, oath(['-b', '-d', '8', '-c', '6', SEED]));
  assert.match((await refusal(service.code('nothing'))).message, /no entry named "nothing"/);
  await service.put('pw', { kind: 'password', secret: 'not-a-seed-at-all' });
  assert.match((await refusal(service.code('pw'))).message, /not a one-time-code seed/);
});

test('a VM gets its own secret and nothing else: not another VM’s, not the CA, not while locked, not without bound', async () => {
  let now = 1_800_000_000_000;
  const service = await VaultService.open(dir, { now: () => now });
  await service.create(PASS, 'alice');
  await service.put('db', { kind: 'password', secret: 'app-db-secret', vm: 'app' });
  await service.put('free', { kind: 'password', secret: 'nobody-s' });
  assert.equal(service.secretForVm('app', 'db'), { ok: true, secret: 'app-db-secret' });
  const none = { ok: false, reason: 'no such secret for this VM' };
  assert.equal(service.secretForVm('other', 'db'), none, 'another VM gets the same answer as for no entry');
  assert.equal(service.secretForVm('app', 'free'), none, 'an entry for no VM goes to none');
  assert.equal(service.secretForVm('app', CA_ENTRY), none);
  service.lock('alice');
  assert.equal(service.secretForVm('app', 'db'), { ok: false, reason: 'locked' });
  await service.unlock({ passphrase: PASS }, 'alice');
  for (let i = 0; i < 27; i++) service.secretForVm('app', 'db');
  assert.equal(service.secretForVm('app', 'db'), { ok: false, reason: 'too many requests' });
  assert.equal(service.secretForVm('other', 'x'), none, "one VM's flood does not bound another");
  now += 61_000;
  assert.equal(service.secretForVm('app', 'db'), { ok: true, secret: 'app-db-secret' });
});

test('certificates: the caller as the one principal, bounded life, one source address; ssh-keygen reads them', async () => {
  const service = await VaultService.open(dir);
  await service.create(PASS, 'alice');
  const key = join(dir, 'user');
  assert.is(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status, 0);
  const publicKey = readFileSync(`${key}.pub`, 'utf8').trim();
  const issued = service.issueCertificate({ user: 'alice', publicKey, validitySeconds: 600, from: '192.0.2.7' });
  assert.equal(issued.principals, ['alice']);
  writeFileSync(`${key}-cert.pub`, `${issued.certificate}\n`);
  const shown = spawnSync('ssh-keygen', ['-L', '-f', `${key}-cert.pub`], { encoding: 'utf8' });
  assert.is(shown.status, 0, shown.stderr);
  assert.match(shown.stdout, /Key ID: "alice@mvos-vault#\d+"/);
  assert.match(shown.stdout, /Principals: \n\s+alice\n\s+Critical Options: \n\s+source-address 192\.0\.2\.7\/32/);
  const ca = service.view().caPublicKey!.split(' ')[1]!;
  const caFile = join(dir, 'ca.pub');
  writeFileSync(caFile, `ssh-ed25519 ${ca}\n`);
  const caPrint = spawnSync('ssh-keygen', ['-l', '-f', caFile], { encoding: 'utf8' }).stdout.split(' ')[1]!;
  assert.ok(shown.stdout.includes(`Signing CA: ED25519 ${caPrint}`), shown.stdout);
  for (const validitySeconds of [59, 12 * 3600 + 1, 1.5])
    assert.match(
      (await refusal(() => service.issueCertificate({ user: 'alice', publicKey, validitySeconds }))).message,
      /a certificate lives 60 s to 12 h/,
    );
  assert.match(
    (await refusal(() => service.issueCertificate({ user: 'alice', publicKey, from: '192.0.2.0/24' }))).message,
    /not an IP address/,
  );
  assert.match(
    (await refusal(() => service.issueCertificate({ user: 'alice', publicKey: 'ssh-rsa AAAA x' }))).message,
    /does not take a certificate/,
  );
  service.lock('alice');
  assert.match((await refusal(() => service.issueCertificate({ user: 'alice', publicKey }))).message, /locked/);
  await refusal(service.put(CA_ENTRY, { kind: 'password', secret: 'x' }));
});

test.run();
