// Reproducible Authenticode signatures: sbsign stamps the PKCS#7 signingTime with the clock; we set it to
// SOURCE_DATE_EPOCH and sign the authenticated attributes again (RSA PKCS#1 v1.5 is deterministic), so the same image
// and key give the same bytes.
import { createPrivateKey, sign } from 'node:crypto';

interface Tlv {
  tag: number;
  // Offset of the tag byte, of the content, and just past the content.
  at: number;
  start: number;
  end: number;
}

function tlv(buf: Buffer, at: number, limit = buf.length): Tlv {
  const tag = buf[at]!;
  let len = buf[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error(`DER: unsupported length form at ${at}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  if (start + len > limit) throw new Error(`DER: element at ${at} runs past its parent`);
  return { tag, at, start, end: start + len };
}

function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let o = parent.start; o < parent.end; ) {
    const t = tlv(buf, o, parent.end);
    out.push(t);
    o = t.end;
  }
  return out;
}

function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag)
    throw new Error(
      `Authenticode: expected ${what} (tag 0x${tag.toString(16)}), found 0x${t?.tag.toString(16) ?? 'nothing'}`,
    );
  return t;
}

// 1.2.840.113549.1.9.5 (PKCS#9 signingTime), DER-encoded.
const SIGNING_TIME_OID = Buffer.from('06092a864886f70d010905', 'hex');

// The certificate table of a PE32+ file: where its WIN_CERTIFICATE entries are (data directory 4).
export function certificateTable(pe: Buffer): { offset: number; size: number; entryAt: number } {
  const header = pe.readUInt32LE(0x3c);
  if (pe.toString('latin1', header, header + 4) !== 'PE\0\0') throw new Error('not a PE file');
  const optional = header + 24;
  const magic = pe.readUInt16LE(optional);
  const directories = optional + (magic === 0x20b ? 112 : 96);
  const entryAt = directories + 4 * 8;
  return { offset: pe.readUInt32LE(entryAt), size: pe.readUInt32LE(entryAt + 4), entryAt };
}

// The PE checksum (over the whole file, its own field counted as zero), written in place; Authenticode leaves this
// field out of its hash.
export function setPeChecksum(pe: Buffer): Buffer {
  const checksumAt = pe.readUInt32LE(0x3c) + 24 + 64;
  pe.writeUInt32LE(0, checksumAt);
  let sum = 0;
  for (let i = 0; i + 1 < pe.length; i += 2) {
    sum += pe.readUInt16LE(i);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (pe.length % 2) sum += pe[pe.length - 1]!;
  sum = (sum & 0xffff) + (sum >>> 16);
  pe.writeUInt32LE((sum + pe.length) >>> 0, checksumAt);
  return pe;
}

// A DER time of the same type (and so the same length) as the one it replaces.
function derTime(tag: number, epoch: number): Buffer {
  const iso = new Date(epoch * 1000).toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  if (tag === 0x17) {
    const year = Number(digits.slice(0, 4));
    if (year < 1950 || year > 2049) throw new Error(`signingTime ${iso} does not fit a UTCTime`);
    return Buffer.from(`${digits.slice(2)}Z`, 'latin1');
  }
  if (tag === 0x18) return Buffer.from(`${digits}Z`, 'latin1');
  throw new Error(`signingTime has an unknown time type 0x${tag.toString(16)}`);
}

// The SignerInfo of the first certificate of a signed PE: its authenticated attributes and encrypted digest.
function signerInfo(pe: Buffer): { attributes: Tlv; signature: Tlv } {
  const table = certificateTable(pe);
  if (table.size === 0) throw new Error('the image carries no signature');
  const der = table.offset + 8;
  const contentInfo = expect(tlv(pe, der, table.offset + table.size), 0x30, 'ContentInfo');
  const explicit = expect(children(pe, contentInfo)[1], 0xa0, 'ContentInfo content');
  const signedData = expect(children(pe, explicit)[0], 0x30, 'SignedData');
  const signerInfos = expect(children(pe, signedData).at(-1), 0x31, 'SignerInfos');
  const info = children(pe, expect(children(pe, signerInfos)[0], 0x30, 'SignerInfo'));
  const attributes = expect(
    info.find((t) => t.tag === 0xa0),
    0xa0,
    'authenticated attributes',
  );
  const signature = expect(info[info.indexOf(attributes) + 2], 0x04, 'encryptedDigest');
  return { attributes, signature };
}

// The signing time a signed PE's signature claims (seconds since the epoch), or undefined when it names none.
export function signingTime(pe: Buffer): number | undefined {
  const time = findSigningTime(pe, signerInfo(pe).attributes);
  if (!time) return undefined;
  const text = pe.toString('latin1', time.start, time.end);
  const full = time.tag === 0x17 ? `${Number(text.slice(0, 2)) < 50 ? '20' : '19'}${text}` : text;
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(full);
  if (!m) throw new Error(`unreadable signingTime ${text}`);
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
}

function findSigningTime(pe: Buffer, attributes: Tlv): Tlv | undefined {
  for (const attribute of children(pe, attributes)) {
    const [oid, values] = children(pe, attribute);
    if (!oid || !values || !pe.subarray(oid.at, oid.end).equals(SIGNING_TIME_OID)) continue;
    return children(pe, values)[0];
  }
  return undefined;
}

// Sets a signed PE's signingTime to `epoch` and signs its authenticated attributes again with the same RSA key, in
// place (same length).
export function pinSigningTime(pe: Buffer, keyPem: string | Buffer, epoch: number): Buffer {
  const { attributes, signature } = signerInfo(pe);
  const time = findSigningTime(pe, attributes);
  if (!time) return setPeChecksum(pe);
  derTime(time.tag, epoch).copy(pe, time.start);
  const key = createPrivateKey(keyPem);
  if (key.asymmetricKeyType !== 'rsa')
    throw new Error(
      `the signing key is ${key.asymmetricKeyType}; reproducible signatures need RSA (PKCS#1 v1.5 is deterministic)`,
    );
  // The signature covers the attributes encoded as a SET (tag 0x31), not with their implicit [0] tag.
  const signed = Buffer.from(pe.subarray(attributes.at, attributes.end));
  signed[0] = 0x31;
  const value = sign('sha256', signed, key);
  if (value.length !== signature.end - signature.start)
    throw new Error(`the new signature is ${value.length} bytes, the old one ${signature.end - signature.start}`);
  value.copy(pe, signature.start);
  return setPeChecksum(pe);
}
