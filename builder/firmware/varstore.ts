// The edk2 variable store as OVMF's VARS file holds it: firmware volume header, authenticated variable store, FTW
// areas.
import { GUIDS, guidBytes, readGuid } from '../../common/efi/guid.ts';

// EFI_TIME as an authenticated variable's TimeStamp holds it.
export interface EfiTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  nanosecond: number;
  timeZone: number;
  daylight: number;
}

// One live variable; the optional fields are the authenticated header's and default to zero.
export interface EfiVariable {
  name: string;
  guid: string;
  attributes: number;
  data: Buffer;
  monotonicCount?: number;
  timestamp?: EfiTime;
  pubKeyIndex?: number;
}

// Where things are in the file: the writer keeps everything outside the variable area from the template.
export interface VarstoreLayout {
  fileSize: number;
  fvLength: number;
  fvHeaderLength: number;
  blockSize: number;
  storeOffset: number;
  storeSize: number;
  // First byte after the last variable header chain (where the next variable would go).
  usedEnd: number;
  // Headers skipped because their State is not VAR_ADDED (deleted or in transition).
  skipped: number;
}

// A parsed varstore: its live variables in store order and its layout.
export interface Varstore {
  variables: EfiVariable[];
  layout: VarstoreLayout;
}

// Attribute bits of UEFI variables.
export const ATTR = {
  NV: 0x1,
  BS: 0x2,
  RT: 0x4,
  HR: 0x8,
  AW: 0x10,
  AT: 0x20,
  AP: 0x40,
} as const;

const STORE_HEADER = 28;
const VAR_HEADER = 60;
const START_ID = 0x55aa;
const VAR_ADDED = 0x3f;
const FORMATTED = 0x5a;
const HEALTHY = 0xfe;

function align4(n: number): number {
  return (n + 3) & ~3;
}

function readTime(buf: Buffer, o: number): EfiTime {
  return {
    year: buf.readUInt16LE(o),
    month: buf[o + 2]!,
    day: buf[o + 3]!,
    hour: buf[o + 4]!,
    minute: buf[o + 5]!,
    second: buf[o + 6]!,
    nanosecond: buf.readUInt32LE(o + 8),
    timeZone: buf.readInt16LE(o + 12),
    daylight: buf[o + 14]!,
  };
}

function writeTime(buf: Buffer, o: number, t: EfiTime | undefined): void {
  buf.fill(0, o, o + 16);
  if (!t) return;
  buf.writeUInt16LE(t.year, o);
  buf[o + 2] = t.month;
  buf[o + 3] = t.day;
  buf[o + 4] = t.hour;
  buf[o + 5] = t.minute;
  buf[o + 6] = t.second;
  buf.writeUInt32LE(t.nanosecond, o + 8);
  buf.writeInt16LE(t.timeZone, o + 12);
  buf[o + 14] = t.daylight;
}

function isZeroTime(t: EfiTime): boolean {
  return Object.values(t).every((v) => v === 0);
}

// Sum of the header's 16-bit words; a valid FV header sums to zero.
function headerSum(buf: Buffer, length: number): number {
  let sum = 0;
  for (let i = 0; i < length; i += 2) sum = (sum + buf.readUInt16LE(i)) & 0xffff;
  return sum;
}

function parseLayout(buf: Buffer): VarstoreLayout {
  if (buf.length < 0x48 + STORE_HEADER)
    throw new Error(`varstore: ${buf.length} bytes is too small for a firmware volume`);
  if (buf.toString('latin1', 0x28, 0x2c) !== '_FVH')
    throw new Error('varstore: no firmware volume header (_FVH signature missing at 0x28)');
  const fvGuid = readGuid(buf, 0x10);
  if (fvGuid !== GUIDS.systemNvDataFv) throw new Error(`varstore: firmware volume ${fvGuid} is not an NV data volume`);
  const fvLength = Number(buf.readBigUInt64LE(0x20));
  const fvHeaderLength = buf.readUInt16LE(0x30);
  if (headerSum(buf, fvHeaderLength) !== 0) throw new Error('varstore: firmware volume header checksum is wrong');
  const blockSize = buf.readUInt32LE(0x3c);
  const storeOffset = fvHeaderLength;
  const storeGuid = readGuid(buf, storeOffset);
  if (storeGuid !== GUIDS.authenticatedVariableStore) {
    throw new Error(
      `varstore: variable store ${storeGuid} is not the authenticated format (${GUIDS.authenticatedVariableStore})`,
    );
  }
  const storeSize = buf.readUInt32LE(storeOffset + 16);
  if (buf[storeOffset + 20] !== FORMATTED || buf[storeOffset + 21] !== HEALTHY)
    throw new Error('varstore: variable store is not formatted and healthy');
  if (storeOffset + storeSize > buf.length) throw new Error('varstore: variable store runs past the end of the file');
  return {
    fileSize: buf.length,
    fvLength,
    fvHeaderLength,
    blockSize,
    storeOffset,
    storeSize,
    usedEnd: storeOffset + STORE_HEADER,
    skipped: 0,
  };
}

// Parses a VARS file; only VAR_ADDED variables are returned, in the order the store holds them.
export function readVarstore(buf: Buffer): Varstore {
  const layout = parseLayout(buf);
  const end = layout.storeOffset + layout.storeSize;
  const variables: EfiVariable[] = [];
  let o = align4(layout.storeOffset + STORE_HEADER);
  while (o + VAR_HEADER <= end && buf.readUInt16LE(o) === START_ID) {
    const state = buf[o + 2]!;
    const nameSize = buf.readUInt32LE(o + 36);
    const dataSize = buf.readUInt32LE(o + 40);
    const nameStart = o + VAR_HEADER;
    const dataStart = nameStart + nameSize;
    if (dataStart + dataSize > end) throw new Error(`varstore: variable at 0x${o.toString(16)} runs past the store`);
    if (state === VAR_ADDED) {
      const timestamp = readTime(buf, o + 16);
      const variable: EfiVariable = {
        name: buf.toString('utf16le', nameStart, nameStart + nameSize).replace(/\0+$/, ''),
        guid: readGuid(buf, o + 44),
        attributes: buf.readUInt32LE(o + 4),
        data: Buffer.from(buf.subarray(dataStart, dataStart + dataSize)),
      };
      const monotonicCount = Number(buf.readBigUInt64LE(o + 8));
      const pubKeyIndex = buf.readUInt32LE(o + 32);
      if (monotonicCount) variable.monotonicCount = monotonicCount;
      if (!isZeroTime(timestamp)) variable.timestamp = timestamp;
      if (pubKeyIndex) variable.pubKeyIndex = pubKeyIndex;
      variables.push(variable);
    } else {
      layout.skipped++;
    }
    o = align4(dataStart + dataSize);
  }
  layout.usedEnd = o;
  return { variables, layout };
}

// The FTW working block header as edk2's OVMF build writes it (CRC over the header with the CRC field 0xFFFFFFFF).
function ftwHeader(): Buffer {
  const h = Buffer.alloc(32, 0xff);
  guidBytes(GUIDS.ftwWorkingBlock).copy(h, 0);
  h.writeUInt32LE(0x642caf2c, 16);
  h[20] = 0xfe;
  h.writeBigUInt64LE(0xfe0n, 24);
  return h;
}

// An empty 4M OVMF VARS file (540672 bytes): NV variable store 0x40000, event log 0x1000, FTW working 0x1000, spare
// 0x42000.
export function emptyVarstore4M(): Buffer {
  const size = 0x84000;
  const buf = Buffer.alloc(size, 0xff);
  buf.fill(0, 0, 0x48);
  guidBytes(GUIDS.systemNvDataFv).copy(buf, 0x10);
  buf.writeBigUInt64LE(BigInt(size), 0x20);
  buf.write('_FVH', 0x28, 'latin1');
  buf.writeUInt32LE(0x4feff, 0x2c);
  buf.writeUInt16LE(0x48, 0x30);
  buf[0x37] = 2;
  buf.writeUInt32LE(size / 0x1000, 0x38);
  buf.writeUInt32LE(0x1000, 0x3c);
  buf.writeUInt16LE((0x10000 - headerSum(buf, 0x48)) & 0xffff, 0x32);
  guidBytes(GUIDS.authenticatedVariableStore).copy(buf, 0x48);
  buf.writeUInt32LE(0x40000 - 0x48, 0x48 + 16);
  buf[0x48 + 20] = FORMATTED;
  buf[0x48 + 21] = HEALTHY;
  buf.fill(0, 0x48 + 22, 0x48 + STORE_HEADER);
  ftwHeader().copy(buf, 0x41000);
  return buf;
}

function encodeVariable(v: EfiVariable): Buffer {
  const name = Buffer.from(`${v.name}\0`, 'utf16le');
  const out = Buffer.alloc(align4(VAR_HEADER + name.length + v.data.length), 0xff);
  out.writeUInt16LE(START_ID, 0);
  out[2] = VAR_ADDED;
  out[3] = 0;
  out.writeUInt32LE(v.attributes, 4);
  out.writeBigUInt64LE(BigInt(v.monotonicCount ?? 0), 8);
  writeTime(out, 16, v.timestamp);
  out.writeUInt32LE(v.pubKeyIndex ?? 0, 32);
  out.writeUInt32LE(name.length, 36);
  out.writeUInt32LE(v.data.length, 40);
  guidBytes(v.guid).copy(out, 44);
  name.copy(out, VAR_HEADER);
  v.data.copy(out, VAR_HEADER + name.length);
  return out;
}

// Writes the variables into a copy of the template (default: an empty 4M store), same size; the variable area is
// rewritten whole.
export function writeVarstore(variables: readonly EfiVariable[], template: Buffer = emptyVarstore4M()): Buffer {
  const layout = parseLayout(template);
  const out = Buffer.from(template);
  const start = align4(layout.storeOffset + STORE_HEADER);
  const end = layout.storeOffset + layout.storeSize;
  out.fill(0xff, start, end);
  let o = start;
  const seen = new Set<string>();
  for (const v of variables) {
    const key = `${v.guid}:${v.name}`;
    if (seen.has(key)) throw new Error(`varstore: variable ${v.name} (${v.guid}) given twice`);
    seen.add(key);
    const bytes = encodeVariable(v);
    if (o + bytes.length > end)
      throw new Error(`varstore: variables need more than the store's ${layout.storeSize} bytes`);
    bytes.copy(out, o);
    o += bytes.length;
  }
  return out;
}
