// A tiny DER walk for X.509 certificates: enough to name a certificate by its subject, without a crypto library.

interface Tlv {
  tag: number;
  start: number;
  end: number;
  next: number;
}

function tlv(buf: Buffer, o: number): Tlv {
  const tag = buf[o]!;
  let len = buf[o + 1]!;
  let start = o + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  if (start + len > buf.length) throw new Error('DER: element runs past the end');
  return { tag, start, end: start + len, next: start + len };
}

function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let o = parent.start; o < parent.end; ) {
    const t = tlv(buf, o);
    out.push(t);
    o = t.next;
  }
  return out;
}

const NAMES: Record<string, string> = {
  '550403': 'CN',
  '55040a': 'O',
  '55040b': 'OU',
  '550406': 'C',
  '550408': 'ST',
  '550407': 'L',
};

// The subject of a DER X.509 certificate as attribute pairs in order, e.g. [['C','US'], ['CN','Microsoft Corporation
// KEK CA 2011']].
export function certificateSubject(der: Buffer): [string, string][] {
  const cert = tlv(der, 0);
  const tbs = children(der, cert)[0]!;
  const fields = children(der, tbs);
  // An explicit [0] version shifts every later field by one.
  const base = fields[0]!.tag === 0xa0 ? 1 : 0;
  const subject = fields[base + 4]!;
  const out: [string, string][] = [];
  for (const set of children(der, subject)) {
    for (const pair of children(der, set)) {
      const [oid, value] = children(der, pair);
      const key = der.subarray(oid!.start, oid!.end).toString('hex');
      const text =
        value!.tag === 0x1e
          ? der.subarray(value!.start, value!.end).swap16().toString('utf16le')
          : der.toString('utf8', value!.start, value!.end);
      out.push([NAMES[key] ?? key, text]);
    }
  }
  return out;
}

// The subject's common name, or the whole subject when it has none.
export function certificateName(der: Buffer): string {
  const subject = certificateSubject(der);
  const cn = subject.find(([k]) => k === 'CN');
  return cn ? cn[1] : subject.map(([k, v]) => `${k}=${v}`).join(', ');
}
