// EFI_SIGNATURE_LIST: the data of PK, KEK, db and dbx — lists of X.509 certificates or SHA-256 hashes, each with an
// owner GUID.

import { GUIDS, guidBytes, readGuid } from '../../common/efi/guid.ts';
import { certificateName } from './der.ts';

// One entry of a signature list.
export interface SignatureEntry {
  type: 'x509' | 'sha256' | string;
  owner: string;
  data: Buffer;
  // x509: the subject CN; sha256: the hash in hex.
  name: string;
}

// Parses concatenated EFI_SIGNATURE_LISTs into their entries.
export function parseSignatureLists(buf: Buffer): SignatureEntry[] {
  const out: SignatureEntry[] = [];
  let o = 0;
  while (o + 28 <= buf.length) {
    const typeGuid = readGuid(buf, o);
    const listSize = buf.readUInt32LE(o + 16);
    const headerSize = buf.readUInt32LE(o + 20);
    const sigSize = buf.readUInt32LE(o + 24);
    if (listSize < 28 || o + listSize > buf.length || sigSize < 16)
      throw new Error(`signature list at ${o} is malformed`);
    const type = typeGuid === GUIDS.certX509 ? 'x509' : typeGuid === GUIDS.certSha256 ? 'sha256' : typeGuid;
    for (let s = o + 28 + headerSize; s + sigSize <= o + listSize; s += sigSize) {
      const data = Buffer.from(buf.subarray(s + 16, s + sigSize));
      let name = data.toString('hex');
      if (type === 'x509') {
        try {
          name = certificateName(data);
        } catch {
          name = '(unreadable certificate)';
        }
      }
      out.push({ type, owner: readGuid(buf, s), data, name });
    }
    o += listSize;
  }
  return out;
}

// One EFI_SIGNATURE_LIST holding one DER certificate, as cert-to-efi-sig-list writes it.
export function x509SignatureList(der: Buffer, owner: string): Buffer {
  const head = Buffer.alloc(28 + 16);
  guidBytes(GUIDS.certX509).copy(head, 0);
  head.writeUInt32LE(28 + 16 + der.length, 16);
  head.writeUInt32LE(0, 20);
  head.writeUInt32LE(16 + der.length, 24);
  guidBytes(owner).copy(head, 28);
  return Buffer.concat([head, der]);
}
