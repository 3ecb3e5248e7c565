// Custody: every T of N shares recover the key folder byte for byte, T−1 never do, and a share with one character
// changed, one of another set, or one given twice is named; the envelope's text is fixed by a known-answer vector.
import { createPrivateKey } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type KeySplit, packFolder, parseSealed, recoverKeys, splitKeys, unpackFolder } from './custody.ts';
import { openShare, sealShare, shareText } from './share-card.ts';

let root: string;
let keys: string;

function subsets<T>(items: T[], size: number): T[][] {
  if (size === 0) return [[]];
  return items.flatMap((item, i) => subsets(items.slice(i + 1), size - 1).map((rest) => [item, ...rest]));
}

test.before.each(() => {
  root = mkdtempSync(join(tmpdir(), 'mvos-custody-'));
  keys = join(root, 'keys');
  mkdirSync(keys);
  writeFileSync(join(keys, 'db.key'), 'private db key\n', { mode: 0o600 });
  writeFileSync(join(keys, 'db.crt'), 'certificate\n', { mode: 0o644 });
  writeFileSync(join(keys, 'update.key'), Buffer.from([0, 1, 2, 255]), { mode: 0o600 });
});

test.after.each(() => rmSync(root, { recursive: true, force: true }));

const given = (split: KeySplit, indexes: number[]) =>
  indexes.map((i) => ({ text: split.cards[i - 1]!, where: `share-${i}.txt` }));

test('every 3 of 5 shares recover the folder byte for byte; every 2 fail and say how many are needed', async () => {
  const split = await splitKeys(keys, { threshold: 3, shares: 5, label: 'home lab keys' });
  const packed = await packFolder(keys);
  const all = [1, 2, 3, 4, 5];
  for (const size of [3, 4, 5])
    for (const subset of subsets(all, size))
      assert.ok((await recoverKeys(split.sealed, given(split, subset))).equals(packed), `shares ${subset}`);
  for (const subset of subsets(all, 2)) {
    const error = await recoverKeys(split.sealed, given(split, subset)).catch((e: Error) => e);
    assert.match(
      (error as Error).message,
      new RegExp(`needs any 3 of its 5 shares; 2 given \\(${subset.join(', ')}\\)`),
    );
  }
  const out = join(root, 'recovered');
  await unpackFolder(await recoverKeys(split.sealed, given(split, [5, 1, 3])), out);
  for (const name of readdirSync(keys)) {
    assert.equal(readFileSync(join(out, name)), readFileSync(join(keys, name)), name);
    assert.is(statSync(join(out, name)).mode & 0o777, statSync(join(keys, name)).mode & 0o700, `${name}'s mode`);
  }
  const again = await unpackFolder(packed, out).catch((e: Error) => e);
  assert.match((again as Error).message, /is not empty: recover into a new folder/);
});

test('a share with any one character changed is named, whichever character', async () => {
  const split = await splitKeys(keys, { threshold: 2, shares: 3, label: 'x' });
  const card = split.cards[1]!;
  const body = card.indexOf(':') + 1;
  for (let at = body; at < card.length; at++) {
    if (card[at] === '-') continue;
    const changed = `${card.slice(0, at)}${card[at] === 'A' ? 'B' : 'A'}${card.slice(at + 1)}`;
    assert.throws(() => openShare(changed, 'share-2.txt'), /share-2\.txt: (damaged or forged share|the share holds)/);
  }
  // The last character's unused bits, which decoding alone would drop: a change there is a changed card too.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const last = card.at(-1)!;
  const padded = `${card.slice(0, -1)}${alphabet[alphabet.indexOf(last) ^ 1]}`;
  assert.throws(() => openShare(padded, 'share-2.txt'), /share-2\.txt: damaged or forged share/);
  // Typed from paper: lower case, spaces and line breaks are fine.
  assert.is(
    openShare(
      card
        .toLowerCase()
        .replaceAll('-', ' ')
        .replace(/(.{40})/g, '$1\n'),
      'typed',
    ).index,
    2,
  );
});

test('a share of another set, one given twice, a damaged sealed file: each refused by name', async () => {
  const split = await splitKeys(keys, { threshold: 2, shares: 3, label: 'x' });
  const other = await splitKeys(keys, { threshold: 2, shares: 3, label: 'x' });
  const foreign = await recoverKeys(split.sealed, [
    { text: split.cards[0]!, where: 'a' },
    { text: other.cards[1]!, where: 'b' },
  ]).catch((e: Error) => e);
  assert.match((foreign as Error).message, /^b: share 2 does not belong to this sealed folder: it is of set/);
  const twice = await recoverKeys(split.sealed, given(split, [1, 1])).catch((e: Error) => e);
  assert.match((twice as Error).message, /share-1\.txt: share 1 is given twice/);
  const ciphertext = Buffer.from(split.sealed.ciphertext, 'base64');
  ciphertext[3] = ciphertext[3]! ^ 1;
  const damaged = { ...split.sealed, ciphertext: ciphertext.toString('base64') };
  const opened = await recoverKeys(damaged, given(split, [1, 2])).catch((e: Error) => e);
  assert.match((opened as Error).message, /the sealed file is damaged/);
  for (const [threshold, shares] of [
    [1, 3],
    [4, 3],
    [2, 99],
  ])
    assert.throws(
      () => parseSealed(JSON.stringify({ ...split.sealed, threshold, shares }), 'crafted.json'),
      /crafted\.json: not a sealed key folder/,
    );
  const relabelled = await recoverKeys({ ...split.sealed, label: 'y' }, given(split, [1, 2])).catch((e: Error) => e);
  assert.match((relabelled as Error).message, /the sealed file is damaged/);
});

test('a key folder holds only files', async () => {
  symlinkSync('/etc/passwd', join(keys, 'link'));
  const refused = await splitKeys(keys, { threshold: 2, shares: 3, label: '' }).catch((e: Error) => e);
  assert.match((refused as Error).message, /link is not a regular file/);
  for (const [t, n] of [
    [1, 3],
    [4, 3],
    [2, 33],
  ]) {
    const bad = await splitKeys(keys, { threshold: t!, shares: n!, label: '' }).catch((e: Error) => e);
    assert.match((bad as Error).message, /--(threshold|shares) must be a whole number/);
  }
});

test('known answer: a share envelope from a fixed dealer key', () => {
  // Ed25519 is deterministic: this seed (its public key below), these fields, this text.
  const seed = Buffer.alloc(32, 7);
  const dealer = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const dealerRaw = Buffer.from('ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c', 'hex');
  const envelope = sealShare(
    {
      setId: Buffer.alloc(16, 1),
      threshold: 2,
      shares: 3,
      index: 1,
      check: Buffer.alloc(16, 2),
      dealer: dealerRaw,
      share: Buffer.alloc(33, 3),
      label: 'kat',
    },
    dealer,
  );
  const text = shareText(envelope);
  assert.is(openShare(text, 'kat').label, 'kat');
  assert.is(text, KAT_TEXT);
});

// Its Ed25519 signature was checked once against OpenSSL's (`openssl pkeyutl -sign -rawin`) over the same body.
const KAT_TEXT =
  'MVOS-SHARE-1:JVLFG-MIBAE-AQCAI-BAEAQ-CAIBA-EAQCA-IBAIB-QCAQC-AIBAE-AQCAI-BAEAQ-CAIBA-EAXKJ-JWGHY-U4KIF-L55KQ-PMJS5-RPZSV-DXNLV-6XZ5Z-EQQ65-JURIR-WSFQQ-QGAYD-AMBQG-AYDAM-BQGAY-DAMBQ-GAYDA-MBQGA-YDAMB-QGAYD-AMBQG-AYDAN-VWC5D-37HXK-WRDP3-4524R-EXD6J-2HLP4-HPFNM-2SWDK-5MXNH-YQHVB-J3ZJD-A2DWF-3VELF-XXWU6-24JA6-NQKWS-RFMPN-XF5AD-NNBO2-AHFKV-YEFBM-A2';

test.run();
