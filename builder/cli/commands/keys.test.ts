// `mvos keys split|verify|recover` as a custodian uses them: the cards' QR codes read by zbarimg (a tool we did not
// write) recover the key folder byte for byte; one card is not enough, and a card with a changed character is named.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const repo = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'mvos-keys-cli-'));

function mvos(...args: string[]): { status: number | null; out: string; err: string } {
  const run = spawnSync(join(repo, 'mvos'), args, {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: run.status, out: run.stdout, err: run.stderr };
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('split into cards; two QR codes read by zbarimg recover the folder; one card is refused', () => {
  mkdirSync(join(dir, 'keys'));
  writeFileSync(join(dir, 'keys', 'update.key'), 'an update key\n', { mode: 0o600 });
  writeFileSync(join(dir, 'keys', 'db.crt'), 'a certificate\n', { mode: 0o644 });
  const split = mvos(
    'keys',
    'split',
    '--dir',
    'keys',
    '--threshold',
    '2',
    '--shares',
    '3',
    '--label',
    'lab',
    '--out',
    'cards',
  );
  assert.is(split.status, 0, split.err);
  assert.match(split.out, /any 2 of 3 shares recover it/);
  for (const k of [1, 3]) {
    const read = spawnSync('zbarimg', ['--raw', '-q', join(dir, 'cards', `share-${k}.png`)], { encoding: 'utf8' });
    assert.is(read.status, 0, read.stderr);
    assert.is(read.stdout.trim(), readFileSync(join(dir, 'cards', `share-${k}.txt`), 'utf8').trim());
    writeFileSync(join(dir, `scanned-${k}.txt`), read.stdout);
  }
  const verify = mvos('keys', 'verify', 'scanned-1.txt', 'cards/share-3.svg', 'cards/keys.sealed.json');
  assert.is(verify.status, 0, verify.err);
  assert.match(verify.out, /scanned-1\.txt: share 1 of 3 \(any 2\).*"lab": signature good/);
  const one = mvos('keys', 'recover', '--sealed', 'cards/keys.sealed.json', '--out', 'one', 'scanned-1.txt');
  assert.is(one.status, 2);
  assert.match(one.err, /needs any 2 of its 3 shares; 1 given \(1\)/);
  const drill = mvos(
    'keys',
    'recover',
    '--sealed',
    'cards/keys.sealed.json',
    '--drill',
    'scanned-3.txt',
    'scanned-1.txt',
  );
  assert.is(drill.status, 0, drill.err);
  assert.match(
    drill.out,
    /drill passed: shares 1, 3 of set \w{16} \(any 2 of 3\) recover the key folder \(db\.crt, update\.key\); nothing was written/,
  );
  assert.not.ok(existsSync(join(dir, 'back')), 'a drill writes nothing');
  const recovered = mvos(
    'keys',
    'recover',
    '--sealed',
    'cards/keys.sealed.json',
    '--out',
    'back',
    'scanned-3.txt',
    'scanned-1.txt',
  );
  assert.is(recovered.status, 0, recovered.err);
  assert.equal(readdirSync(join(dir, 'back')).sort(), ['db.crt', 'update.key']);
  for (const name of ['db.crt', 'update.key'])
    assert.equal(readFileSync(join(dir, 'back', name)), readFileSync(join(dir, 'keys', name)));
  const card = readFileSync(join(dir, 'scanned-3.txt'), 'utf8');
  const at = card.length - 10;
  writeFileSync(join(dir, 'typo.txt'), `${card.slice(0, at)}${card[at] === 'Q' ? 'R' : 'Q'}${card.slice(at + 1)}`);
  const typo = mvos('keys', 'verify', 'typo.txt');
  assert.is(typo.status, 2);
  assert.match(typo.err, /typo\.txt: damaged or forged share/);
});

test("--to: a share encrypted with age to a custodian's SSH key opens with their private key and recovers", () => {
  const home = join(dir, 'custodian');
  mkdirSync(home);
  const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, 'id')], {
    encoding: 'utf8',
  });
  assert.is(keygen.status, 0, keygen.stderr);
  const pub = readFileSync(join(home, 'id.pub'), 'utf8').trim();
  const split = mvos(
    'keys',
    'split',
    '--dir',
    'keys',
    '--threshold',
    '2',
    '--shares',
    '2',
    '--to',
    `alice=${pub}`,
    '--out',
    'sent',
  );
  assert.is(split.status, 0, split.err);
  assert.equal(readdirSync(join(dir, 'sent')).sort(), [
    'keys.sealed.json',
    'share-1-alice.age',
    'share-2.png',
    'share-2.svg',
    'share-2.txt',
  ]);
  const opened = spawnSync('age', ['--decrypt', '-i', join(home, 'id'), join(dir, 'sent', 'share-1-alice.age')], {
    encoding: 'utf8',
  });
  assert.is(opened.status, 0, opened.stderr);
  writeFileSync(join(dir, 'alice.txt'), opened.stdout);
  const back = mvos(
    'keys',
    'recover',
    '--sealed',
    'sent/keys.sealed.json',
    '--out',
    'back2',
    'alice.txt',
    'sent/share-2.txt',
  );
  assert.is(back.status, 0, back.err);
  assert.equal(readFileSync(join(dir, 'back2', 'update.key')), readFileSync(join(dir, 'keys', 'update.key')));
  const bad = mvos(
    'keys',
    'split',
    '--dir',
    'keys',
    '--threshold',
    '2',
    '--shares',
    '2',
    '--to',
    'alice=nonsense',
    '--out',
    'x',
  );
  assert.is(bad.status, 2);
  assert.match(bad.err, /--to takes NAME=KEY/);
});

test.run();
