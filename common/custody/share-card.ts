// One custodian's share of a key set, as an envelope that verifies alone: the set it belongs to, T of N, its number,
// a label, a check value of the secret, the share itself, and the dealer's signature over all of it (Ed25519, with a
// key made for this one split and thrown away after, so nobody can forge a share of the set later). As text it is
// base32 in groups of five behind `MVOS-SHARE-1:`, which a person can type from paper and a QR code holds in its
// alphanumeric mode.
import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { base32, base32Decode } from '../base32.ts';
import { UserError } from '../errors.ts';

const MAGIC = Buffer.from('MVS1', 'latin1');
// The text form's prefix; what follows is the envelope in base32.
export const SHARE_PREFIX = 'MVOS-SHARE-1:';
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
// A label is for people: short, one line.
export const MAX_LABEL_BYTES = 64;

// A share envelope taken apart.
export interface ShareEnvelope {
  setId: Buffer;
  threshold: number;
  shares: number;
  index: number;
  // HMAC-SHA256 of the secret (16 bytes): shows a combination is right without revealing anything of the secret.
  check: Buffer;
  // The dealer's Ed25519 public key (32 bytes).
  dealer: Buffer;
  share: Buffer;
  label: string;
}

function body(e: ShareEnvelope): Buffer {
  const label = Buffer.from(e.label, 'utf8');
  if (label.length > MAX_LABEL_BYTES) throw new UserError(`a share's label is at most ${MAX_LABEL_BYTES} bytes`);
  if (e.setId.length !== 16 || e.check.length !== 16 || e.dealer.length !== 32 || e.share.length > 255)
    throw new Error('share envelope: a field has the wrong size');
  return Buffer.concat([
    MAGIC,
    e.setId,
    Buffer.from([e.threshold, e.shares, e.index]),
    e.check,
    e.dealer,
    Buffer.from([e.share.length]),
    e.share,
    Buffer.from([label.length]),
    label,
  ]);
}

// The dealer's public key as a KeyObject.
export function dealerKey(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

// The envelope signed by the dealer, as bytes.
export function sealShare(e: ShareEnvelope, dealer: KeyObject): Buffer {
  const signed = body(e);
  return Buffer.concat([signed, sign(null, signed, dealer)]);
}

// The text of a share: the prefix, then base32 in groups of five.
export function shareText(envelope: Buffer): string {
  return `${SHARE_PREFIX}${base32(envelope)
    .match(/.{1,5}/g)!
    .join('-')}`;
}

// Reads a share from its text (spaces, dashes and line breaks as typed are ignored, lower case is taken) and checks its
// signature; `where` names it in errors.
export function openShare(text: string, where: string): ShareEnvelope {
  const compact = text.toUpperCase().replace(/[\s-]+/g, '');
  const prefix = SHARE_PREFIX.replace(/-/g, '');
  if (!compact.startsWith(prefix))
    throw new UserError(`${where}: not a share card (it does not start with ${SHARE_PREFIX})`);
  const body = compact.slice(prefix.length);
  let bytes: Buffer;
  try {
    bytes = base32Decode(body);
  } catch {
    throw new UserError(`${where}: the share holds characters that are not base32 (A-Z, 2-7): mistyped?`);
  }
  const fail = (why: string) => new UserError(`${where}: damaged or forged share: ${why}`);
  // The last character carries unused bits, which decoding drops: only the one encoding of the bytes is a share.
  if (base32(bytes) !== body) throw fail('its last character is not one a card ever has (a changed character?)');
  if (bytes.length < 4 + 16 + 3 + 16 + 32 + 1 + 64 || !bytes.subarray(0, 4).equals(MAGIC))
    throw fail('it is too short or not of this format');
  let at = 4;
  const take = (n: number) => {
    if (at + n > bytes.length) throw fail('it ends early');
    const part = bytes.subarray(at, at + n);
    at += n;
    return Buffer.from(part);
  };
  const setId = take(16);
  const [threshold, shares, index] = take(3);
  const check = take(16);
  const dealer = take(32);
  const share = take(take(1)[0]!);
  const label = take(take(1)[0]!).toString('utf8');
  const signed = bytes.subarray(0, at);
  const signature = take(64);
  if (at !== bytes.length) throw fail('it has bytes after its signature');
  if (!verify(null, signed, dealerKey(dealer), signature))
    throw fail('its signature does not match (a changed character?)');
  if (threshold! < 2 || threshold! > shares! || index! < 1 || index! > shares!)
    throw fail(`it says share ${index} of ${shares}, any ${threshold}`);
  return { setId, threshold: threshold!, shares: shares!, index: index!, check, dealer, share, label };
}
