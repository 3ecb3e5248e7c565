// The vault endpoints over the real API: made with custodians (the cards come once), filled, codes and public keys and
// certificates to a logged-in user, never a secret in any answer or audit line, locked and unlocked by passphrase or
// shares, nothing without a session, bad bodies refused with their reason.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ApiAnswers } from '../../common/api-types.ts';
import { VaultService } from '../vault/service.ts';
import { call, login, startFixture } from './fixture.test-support.ts';

const PASS = 'the vault passphrase, long';
const SEED = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const PASSWORD = 'router-admin-pw-8c1d';

test('a logged-in user makes, fills, reads codes and certificates, locks and unlocks; no answer holds a secret', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mvos-vault-api-'));
  const vault = await VaultService.open(join(root, 'state'));
  const fx = await startFixture({ vault });
  try {
    assert.is((await call(fx.url, 'GET', '/api/vault')).status, 401);
    assert.is((await call(fx.url, 'POST', '/api/vault', { body: { passphrase: PASS } })).status, 401);
    const alice = await login(fx, 'alice');
    const texts: string[] = [];
    const ask = async (method: string, path: string, body?: unknown) => {
      const answer = await alice.call(method, path, body === undefined ? {} : { body });
      texts.push(answer.text);
      return answer;
    };
    assert.equal((await ask('GET', '/api/vault')).json, { state: 'none', unlock: { failures: 0 } });
    const short = await ask('POST', '/api/vault', { passphrase: 'short' });
    assert.is(short.status, 400);
    assert.match(short.text, /at least 8 characters/);
    const badSplit = await ask('POST', '/api/vault', { passphrase: PASS, custodians: { threshold: 4, shares: 3 } });
    assert.match(badSplit.text, /custodians\.shares|from 2 to/);
    const made = await ask('POST', '/api/vault', { passphrase: PASS, custodians: { threshold: 2, shares: 3 } });
    assert.is(made.status, 201, made.text);
    // The one answer that holds the cards, by design.
    texts.pop();
    const { cards, vault: view } = made.json as ApiAnswers['POST /api/vault'];
    assert.is(cards.length, 3);
    assert.is(view.state, 'unlocked');
    assert.is((await ask('POST', '/api/vault', { passphrase: PASS })).status, 409, 'only once');

    const put = (body: object) => ask('POST', '/api/vault/entries', body);
    assert.is((await put({ name: 'router', kind: 'password', secret: PASSWORD, vm: 'router' })).status, 200);
    assert.is((await put({ name: 'github', kind: 'totp', secret: SEED })).status, 200);
    const badSeed = await put({ name: 'bad', kind: 'totp', secret: 'not base32!' });
    assert.is(badSeed.status, 400);
    assert.match(badSeed.text, /base32/);
    const cookie = await put({ name: 'x', kind: 'cookie', secret: 'y' });
    assert.match(cookie.text, /kind\\" must be one of/, cookie.text);
    assert.is((await put({ name: 'ssh-ca', kind: 'password', secret: 'y' })).status, 409);

    const code = await ask('GET', '/api/vault/entries/github/code');
    const oath = spawnSync('oathtool', ['--totp', '-b', SEED], { encoding: 'utf8' }).stdout.trim();
    assert.is((code.json as ApiAnswers['GET /api/vault/entries/{entry}/code']).code, oath);
    assert.is((await ask('GET', '/api/vault/entries/router/code')).status, 400);
    assert.is((await ask('GET', '/api/vault/entries/none/code')).status, 404);
    const ca = await ask('GET', '/api/vault/entries/ssh-ca/public-key');
    assert.match((ca.json as { publicKey: string }).publicKey, /^ssh-ed25519 /);

    const keyFile = join(root, 'id');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const publicKey = (await readFile(`${keyFile}.pub`, 'utf8')).trim();
    const cert = await ask('POST', '/api/vault/ssh-cert', { publicKey, validitySeconds: 300 });
    assert.is(cert.status, 200, cert.text);
    assert.equal((cert.json as ApiAnswers['POST /api/vault/ssh-cert']).principals, ['alice']);
    assert.is((await ask('POST', '/api/vault/ssh-cert', { publicKey, validitySeconds: 10 })).status, 400);

    const NEW = 'the new vault passphrase';
    const badCurrent = await ask('POST', '/api/vault/passphrase', { current: 'not it at all', passphrase: NEW });
    assert.is(badCurrent.status, 400);
    assert.match(badCurrent.text, /the current passphrase: wrong passphrase/);
    assert.is((await ask('POST', '/api/vault/passphrase', { current: PASS, passphrase: NEW })).status, 200);
    assert.is((await ask('POST', '/api/vault/lock')).status, 200);
    assert.is((await ask('POST', '/api/vault/unlock', { passphrase: PASS })).status, 400, 'the old one opens nothing');
    assert.is((await ask('POST', '/api/vault/unlock', { passphrase: NEW })).status, 200);
    assert.is((await ask('POST', '/api/vault/lock')).status, 200);
    assert.is((await ask('GET', '/api/vault/entries/github/code')).status, 409);
    const locked = (await ask('GET', '/api/vault')).json as ApiAnswers['GET /api/vault'];
    assert.is(locked.state, 'locked');
    assert.match(locked.caPublicKey ?? '', /^ssh-ed25519 /, 'the CA key is there to trust while locked');
    const wrong = await ask('POST', '/api/vault/unlock', { passphrase: 'not the passphrase' });
    assert.is(wrong.status, 400);
    assert.match(wrong.text, /wrong passphrase \(1 failed in a row\)/);
    const one = await ask('POST', '/api/vault/unlock', { shares: [cards[1]] });
    assert.match(one.text, /needs any 2 of its 3 shares; 1 given/);
    const two = await ask('POST', '/api/vault/unlock', { shares: [cards[2], cards[0]] });
    assert.is(two.status, 200, two.text);
    assert.equal(
      (two.json as ApiAnswers['POST /api/vault/unlock']).entries?.map((e) => e.name),
      ['github', 'router', 'ssh-ca'],
    );
    assert.is((await ask('DELETE', '/api/vault/entries/github')).status, 200);

    await fx.api.audit.close();
    const audit = await readdir(join(fx.dir, 'state'), { recursive: true });
    const logged = (
      await Promise.all(audit.map((name) => readFile(join(fx.dir, 'state', name), 'utf8').catch(() => '')))
    ).join('\n');
    assert.match(logged, /vault\/entries/, 'the changes are audited');
    for (const secret of [PASS, NEW, PASSWORD, SEED, ...cards]) {
      for (const text of texts) assert.not.ok(text.includes(secret), `an answer holds ${secret.slice(0, 12)}…`);
      assert.not.ok(logged.includes(secret), `the audit log holds ${secret.slice(0, 12)}…`);
    }
  } finally {
    await fx.close();
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
