// Key custody: the key folder sealed under a fresh data key (AES-256-GCM), and that key split among custodians with
// Shamir's secret sharing over GF(256) (the audited `shamir-secret-sharing`): any T of the N shares recover the folder,
// fewer reveal nothing of it. The sealed file is safe to keep anywhere; the shares are what custodians hold.
import { createCipheriv, createDecipheriv, createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { combine, split } from 'shamir-secret-sharing';
import { UserError } from '../errors.ts';
import { openShare, type ShareEnvelope, sealShare, shareText } from './share-card.ts';

// The sealed file's format.
export const SEALED_FORMAT = 'mvos-keys-sealed/1';
// Bounds on what a key folder may hold: keys are small, and a sealed file that claims more is not read.
const MAX_FILES = 64;
const MAX_FOLDER_BYTES = 1 << 20;
// Most custodians a set may have (the library's limit is 255; cards are handed to people).
export const MAX_SHARES = 32;

// The sealed key folder, as JSON.
export interface SealedKeys {
  format: typeof SEALED_FORMAT;
  setId: string;
  threshold: number;
  shares: number;
  label: string;
  dealer: string;
  check: string;
  nonce: string;
  ciphertext: string;
  tag: string;
}

// A split's output: the sealed folder and one share text per custodian, in order.
export interface KeySplit {
  sealed: SealedKeys;
  cards: string[];
}

function checkValue(secret: Uint8Array, setId: Buffer): Buffer {
  return createHmac('sha256', secret).update('mvos custody check').update(setId).digest().subarray(0, 16);
}

// What the cipher authenticates besides the ciphertext: every header field, so none can be changed.
function associated(s: Omit<SealedKeys, 'nonce' | 'ciphertext' | 'tag'>): Buffer {
  return Buffer.from(JSON.stringify([s.format, s.setId, s.threshold, s.shares, s.label, s.dealer, s.check]));
}

// The folder's regular files as one deterministic buffer (names sorted, each with its mode); anything else in it (a
// link, a subfolder) is refused, since a recovered folder must be exactly what was split.
export async function packFolder(dir: string): Promise<Buffer> {
  const names = (await readdir(dir)).sort();
  if (names.length === 0) throw new UserError(`${dir} is empty: there is nothing to split`);
  if (names.length > MAX_FILES)
    throw new UserError(`${dir} holds ${names.length} entries; a key folder holds at most ${MAX_FILES}`);
  const files: Array<[string, number, string]> = [];
  let total = 0;
  for (const name of names) {
    const info = await lstat(join(dir, name));
    if (!info.isFile()) throw new UserError(`${join(dir, name)} is not a regular file: a key folder holds only files`);
    total += info.size;
    if (total > MAX_FOLDER_BYTES) throw new UserError(`${dir} holds more than 1 MiB: not a key folder`);
    files.push([name, info.mode & 0o777, (await readFile(join(dir, name))).toString('base64')]);
  }
  return Buffer.from(JSON.stringify(files));
}

// Writes a packed folder into `dir`, which must not exist or be empty (0700, each file with its mode).
export async function unpackFolder(packed: Buffer, dir: string): Promise<string[]> {
  const files = JSON.parse(packed.toString('utf8')) as Array<[string, number, string]>;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if ((await readdir(dir)).length > 0) throw new UserError(`${dir} is not empty: recover into a new folder`);
  for (const [name, mode, data] of files) {
    if (!/^[\w.+-]{1,128}$/.test(name) || name.startsWith('.'))
      throw new UserError(`the sealed folder names a file "${name}"`);
    await writeFile(join(dir, name), Buffer.from(data, 'base64'), { mode: mode & 0o700, flag: 'wx' });
  }
  return files.map(([name]) => name);
}

// How a split is made: any `threshold` of `shares` recover; `label` says what for, on every card.
export interface SplitOptions {
  threshold: number;
  shares: number;
  label: string;
}

// Checks T of N before anything is read or made; `flag` names the fields as the caller's user knows them.
export function checkSplit(options: SplitOptions, flag = { threshold: '--threshold', shares: '--shares' }): void {
  const { threshold, shares } = options;
  if (!Number.isInteger(shares) || shares < 2 || shares > MAX_SHARES)
    throw new UserError(`${flag.shares} must be a whole number from 2 to ${MAX_SHARES} (got ${shares})`);
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > shares)
    throw new UserError(
      `${flag.threshold} must be a whole number from 2 to ${flag.shares} (${shares}) (got ${threshold})`,
    );
}

// Seals the folder and splits its key: any `threshold` of `shares` recover it.
export async function splitKeys(dir: string, options: SplitOptions): Promise<KeySplit> {
  checkSplit(options);
  return sealAndSplit(await packFolder(dir), options);
}

// Seals `packed` under a fresh key and splits that key: the custody of any small secret (a key folder, a vault's key).
export async function sealAndSplit(packed: Buffer, options: SplitOptions): Promise<KeySplit> {
  checkSplit(options);
  const { threshold, shares, label } = options;
  const secret = randomBytes(32);
  const setId = randomBytes(16);
  const dealer = generateKeyPairSync('ed25519');
  const dealerRaw = dealer.publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
  const check = checkValue(secret, setId);
  const header = {
    format: SEALED_FORMAT,
    setId: setId.toString('hex'),
    threshold,
    shares,
    label,
    dealer: dealerRaw.toString('hex'),
    check: check.toString('hex'),
  } as const;
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secret, nonce);
  cipher.setAAD(associated(header));
  const ciphertext = Buffer.concat([cipher.update(packed), cipher.final()]);
  const parts = await split(new Uint8Array(secret), shares, threshold);
  const cards = parts.map((share, i) =>
    shareText(
      sealShare(
        { setId, threshold, shares, index: i + 1, check, dealer: dealerRaw, share: Buffer.from(share), label },
        dealer.privateKey,
      ),
    ),
  );
  return {
    sealed: {
      ...header,
      nonce: nonce.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
    },
    cards,
  };
}

// Reads a sealed file's JSON, checking its shape.
export function parseSealed(text: string, where: string): SealedKeys {
  let json: SealedKeys;
  try {
    json = JSON.parse(text) as SealedKeys;
  } catch {
    throw new UserError(`${where}: not a sealed key folder (not JSON)`);
  }
  const hex = (v: unknown, bytes: number) => typeof v === 'string' && new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(v);
  if (
    json?.format !== SEALED_FORMAT ||
    !hex(json.setId, 16) ||
    !hex(json.dealer, 32) ||
    !hex(json.check, 16) ||
    !Number.isInteger(json.threshold) ||
    !Number.isInteger(json.shares) ||
    json.threshold < 2 ||
    json.threshold > json.shares ||
    json.shares > MAX_SHARES ||
    typeof json.label !== 'string' ||
    [json.nonce, json.ciphertext, json.tag].some((v) => typeof v !== 'string')
  )
    throw new UserError(`${where}: not a sealed key folder of format ${SEALED_FORMAT}`);
  return json;
}

// A share as given: its text and where it came from (a file, "typed share 2").
export interface GivenShare {
  text: string;
  where: string;
}

// The numbers of the shares given, in order (a drill says which custodians' cards it checked).
export function shareNumbers(given: readonly GivenShare[]): number[] {
  return given.map((g) => openShare(g.text, g.where).index).sort((a, b) => a - b);
}

// Checks each share alone, then that they are of this sealed set, then combines them and opens what was sealed.
export async function recoverKeys(sealed: SealedKeys, given: GivenShare[]): Promise<Buffer> {
  const byIndex = new Map<number, ShareEnvelope>();
  for (const { text, where } of given) {
    const share = openShare(text, where);
    const odd =
      share.setId.toString('hex') !== sealed.setId
        ? `it is of set ${share.setId.toString('hex')}, not ${sealed.setId}`
        : share.dealer.toString('hex') !== sealed.dealer || share.check.toString('hex') !== sealed.check
          ? "its dealer or check value is not the sealed file's"
          : share.threshold !== sealed.threshold || share.shares !== sealed.shares
            ? `it says any ${share.threshold} of ${share.shares}, the sealed file any ${sealed.threshold} of ${sealed.shares}`
            : undefined;
    if (odd) throw new UserError(`${where}: share ${share.index} does not belong to this sealed folder: ${odd}`);
    if (byIndex.has(share.index)) throw new UserError(`${where}: share ${share.index} is given twice`);
    byIndex.set(share.index, share);
  }
  if (byIndex.size < sealed.threshold)
    throw new UserError(
      `set ${sealed.setId.slice(0, 8)} needs any ${sealed.threshold} of its ${sealed.shares} shares; ${byIndex.size} given${byIndex.size ? ` (${[...byIndex.keys()].sort((a, b) => a - b).join(', ')})` : ''}`,
      { hint: 'fewer shares reveal nothing of the keys: ask another custodian' },
    );
  const secret = Buffer.from(await combine([...byIndex.values()].map((s) => Uint8Array.from(s.share))));
  if (!checkValue(secret, Buffer.from(sealed.setId, 'hex')).equals(Buffer.from(sealed.check, 'hex')))
    throw new UserError("the shares do not combine to this set's key (a share is not what its dealer signed)");
  const decipher = createDecipheriv('aes-256-gcm', secret, Buffer.from(sealed.nonce, 'base64'));
  decipher.setAAD(associated(sealed));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]);
  } catch {
    throw new UserError('the sealed file is damaged: it does not open under the recovered key');
  }
}
