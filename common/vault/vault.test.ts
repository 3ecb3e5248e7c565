// The vault: entries come back after lock and unlock, a wrong passphrase or a damaged file is refused, the file holds
// none of the stored values in any form, and one-time codes equal oathtool's (a tool we did not write).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Vault, type VaultEntry } from './vault.ts';

let dir: string;
let file: string;
const PASS = 'correct horse battery staple';
// base32 seeds: an 80-bit one as many services issue, and 160-bit ones.
const SEEDS = {
  short: 'JBSWY3DPEHPK3PXP',
  sha1: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ',
  long: 'KRUGKIDROVUWG2ZAMJZG653OEBTG66BANJ2W24DTEBXXMZLSEB2GQZJANRQXU6JAMRXWOLQ',
};

function oathtool(args: string[]): string {
  const run = spawnSync('oathtool', args, { encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  return run.stdout.trim();
}

test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'mvos-vault-'));
  file = join(dir, 'vault.json');
});

test.after.each(() => rmSync(dir, { recursive: true, force: true }));

const entries: Record<string, VaultEntry> = {
  'router-admin': { kind: 'password', secret: 'p4ssw0rd-for-the-router', note: 'web UI' },
  github: { kind: 'totp', secret: SEEDS.sha1, digits: 6, period: 30, algorithm: 'sha1' },
  bank: { kind: 'totp', secret: SEEDS.long, digits: 8, period: 60, algorithm: 'sha256' },
  token: { kind: 'hotp', secret: SEEDS.short, digits: 6, counter: 7 },
  'deploy-key': {
    kind: 'ssh-key',
    secret: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----',
    publicKey: 'ssh-ed25519 AAAAC3Nz deploy',
  },
};

test('entries come back after lock and unlock; a wrong passphrase opens nothing', async () => {
  const { vault } = await Vault.create(file, PASS);
  for (const [name, entry] of Object.entries(entries)) await vault.put(name, entry);
  vault.lock();
  assert.throws(() => vault.list(), /the vault is locked/);
  const again = await Vault.unlock(file, PASS);
  assert.equal(
    again.list().map((e) => e.name),
    Object.keys(entries).sort(),
  );
  for (const [name, entry] of Object.entries(entries)) assert.equal(again.get(name), entry);
  const wrong = await Vault.unlock(file, 'correct horse battery stable').catch((e: Error) => e);
  assert.match((wrong as Error).message, /wrong passphrase/);
  const twice = await Vault.create(file, PASS).catch((e: Error) => e);
  assert.match((twice as Error).message, /a vault exists already/);
});

test('the file, as a stolen disk would give it, holds none of the stored values in any form', async () => {
  const { vault } = await Vault.create(file, PASS);
  for (const [name, entry] of Object.entries(entries)) await vault.put(name, entry);
  const raw = readFileSync(file);
  for (const entry of Object.values(entries)) {
    const forms = [
      entry.secret,
      Buffer.from(entry.secret).toString('base64'),
      Buffer.from(entry.secret).toString('hex'),
    ];
    for (const form of forms) assert.is(raw.indexOf(form), -1, `found ${form.slice(0, 12)}…`);
  }
  assert.is(raw.indexOf(PASS), -1);
});

test('TOTP codes equal oathtool’s (SHA-1, SHA-256, 6 and 8 digits, 30 and 60 s); HOTP codes too, counter kept', async () => {
  const { vault } = await Vault.create(file, PASS);
  for (const [name, entry] of Object.entries(entries)) await vault.put(name, entry);
  await vault.put('short', { kind: 'totp', secret: SEEDS.short, digits: 6, period: 30, algorithm: 'sha1' });
  for (const at of [59, 1_111_111_109, 1_234_567_890, 2_000_000_000]) {
    assert.is(await vault.code('github', at * 1000), oathtool(['--totp', '-b', SEEDS.sha1, '-N', `@${at}`]));
    assert.is(await vault.code('short', at * 1000), oathtool(['--totp', '-b', SEEDS.short, '-N', `@${at}`]));
    assert.is(
      await vault.code('bank', at * 1000),
      oathtool(['--totp=sha256', '-d', '8', '-s', '60', '-b', SEEDS.long, '-N', `@${at}`]),
    );
  }
  const expected = oathtool(['-b', '-c', '7', '-w', '2', SEEDS.short]).split('\n');
  assert.equal([await vault.code('token'), await vault.code('token')], expected.slice(0, 2));
  const reopened = await Vault.unlock(file, PASS);
  assert.is(await reopened.code('token'), expected[2], 'the HOTP counter outlived the lock');
  const none = await reopened.code('router-admin').catch((e: Error) => e);
  assert.match((none as Error).message, /no one-time-code seed named router-admin/);
});

test('refused: a damaged file, a crafted key derivation, bad entries', async () => {
  const { vault } = await Vault.create(file, PASS);
  await vault.put('a', { kind: 'password', secret: 'x' });
  const json = JSON.parse(readFileSync(file, 'utf8'));
  const data = Buffer.from(json.entries.data, 'base64');
  data[0] = data[0]! ^ 1;
  writeFileSync(file, JSON.stringify({ ...json, entries: { ...json.entries, data: data.toString('base64') } }));
  assert.match(
    ((await Vault.unlock(file, PASS).catch((e: Error) => e)) as Error).message,
    /damaged: its entries do not open/,
  );
  writeFileSync(file, JSON.stringify({ ...json, kdf: { ...json.kdf, N: 2 ** 24 } }));
  assert.match(
    ((await Vault.unlock(file, PASS).catch((e: Error) => e)) as Error).message,
    /key derivation this agent does not run/,
  );
  for (const [name, entry, why] of [
    ['Upper', { kind: 'password', secret: 'x' }, /entry name/],
    ['seed', { kind: 'totp', secret: 'not-base32', digits: 6, period: 30, algorithm: 'sha1' }, /base32/],
    ['seed', { kind: 'totp', secret: SEEDS.sha1, digits: 7, period: 30, algorithm: 'sha1' }, /6 or 8 digits/],
    ['empty', { kind: 'password', secret: '' }, /1 to 65536 characters/],
  ] as const)
    assert.match(((await vault.put(name, entry as VaultEntry).catch((e: Error) => e)) as Error).message, why);
});

test('writes in a burst keep the newest state: five HOTP codes at once leave the counter five steps on', async () => {
  const { vault } = await Vault.create(file, PASS);
  await vault.put('token', { kind: 'hotp', secret: SEEDS.short, digits: 6, counter: 0 });
  const codes = await Promise.all([1, 2, 3, 4, 5].map(() => vault.code('token')));
  assert.is(new Set(codes).size, 5, 'five different codes');
  const again = await Vault.unlock(file, PASS);
  assert.is((again.get('token') as { counter: number }).counter, 5);
});

test.run();
