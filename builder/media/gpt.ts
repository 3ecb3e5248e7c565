// GPT partition tables as bytes: protective MBR, primary and backup headers and entry arrays, with their CRC32s.
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { guidBytes } from '../../common/efi/guid.ts';

// Sector size of every disk image mvos writes.
export const SECTOR = 512;

const ENTRY_COUNT = 128;
const ENTRY_SIZE = 128;
// Sectors the entry array takes (128 entries of 128 bytes).
const ENTRY_SECTORS = (ENTRY_COUNT * ENTRY_SIZE) / SECTOR;

// Well-known partition type GUIDs.
export const GPT_TYPES = {
  biosBoot: '21686148-6449-6e6f-744e-656564454649',
  esp: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
  linux: '0fc63daf-8483-4772-8e79-3d69d8477de4',
} as const;

// One partition: sectors first..last inclusive.
export interface GptPartition {
  name: string;
  type: string;
  guid: string;
  first: number;
  last: number;
  attributes?: bigint;
}

// A whole table: the disk's size in sectors, its GUID, partitions, and optional MBR boot code (first 440 bytes used).
export interface GptDisk {
  sectors: number;
  guid: string;
  partitions: readonly GptPartition[];
  bootCode?: Buffer;
}

// A GUID derived from a seed: sha256, then the RFC 4122 version-4 and variant bits, so tools accept it as
// random-looking.
export function guidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

function entries(disk: GptDisk): Buffer {
  const buf = Buffer.alloc(ENTRY_COUNT * ENTRY_SIZE);
  disk.partitions.forEach((p, i) => {
    const o = i * ENTRY_SIZE;
    guidBytes(p.type).copy(buf, o);
    guidBytes(p.guid).copy(buf, o + 16);
    buf.writeBigUInt64LE(BigInt(p.first), o + 32);
    buf.writeBigUInt64LE(BigInt(p.last), o + 40);
    buf.writeBigUInt64LE(p.attributes ?? 0n, o + 48);
    const name = Buffer.from(p.name, 'utf16le');
    if (name.length > 72) throw new Error(`partition name too long: ${p.name}`);
    name.copy(buf, o + 56);
  });
  return buf;
}

function header(disk: GptDisk, table: Buffer, primary: boolean): Buffer {
  const last = disk.sectors - 1;
  const h = Buffer.alloc(SECTOR);
  h.write('EFI PART', 0, 'latin1');
  h.writeUInt32LE(0x00010000, 8);
  h.writeUInt32LE(92, 12);
  h.writeBigUInt64LE(BigInt(primary ? 1 : last), 24);
  h.writeBigUInt64LE(BigInt(primary ? last : 1), 32);
  h.writeBigUInt64LE(BigInt(2 + ENTRY_SECTORS), 40);
  h.writeBigUInt64LE(BigInt(last - 1 - ENTRY_SECTORS), 48);
  guidBytes(disk.guid).copy(h, 56);
  h.writeBigUInt64LE(BigInt(primary ? 2 : last - ENTRY_SECTORS), 72);
  h.writeUInt32LE(ENTRY_COUNT, 80);
  h.writeUInt32LE(ENTRY_SIZE, 84);
  h.writeUInt32LE(crc32(table), 88);
  h.writeUInt32LE(crc32(h.subarray(0, 92)), 16);
  return h;
}

function protectiveMbr(disk: GptDisk): Buffer {
  const mbr = Buffer.alloc(SECTOR);
  disk.bootCode?.copy(mbr, 0, 0, 440);
  const o = 446;
  mbr.writeUInt8(0x00, o);
  mbr.writeUIntLE(0x000200, o + 1, 3);
  mbr.writeUInt8(0xee, o + 4);
  mbr.writeUIntLE(0xffffff, o + 5, 3);
  mbr.writeUInt32LE(1, o + 8);
  mbr.writeUInt32LE(Math.min(disk.sectors - 1, 0xffffffff), o + 12);
  mbr.writeUInt16LE(0xaa55, 510);
  return mbr;
}

// The first usable and last usable sector of a disk this size.
export function usableSectors(sectors: number): { first: number; last: number } {
  return { first: 2 + ENTRY_SECTORS, last: sectors - 2 - ENTRY_SECTORS };
}

// Writes the table into a zero-filled disk buffer: MBR + primary at the start, backup entries + header at the end.
export function writeGpt(disk: GptDisk, image: Buffer): void {
  if (image.length !== disk.sectors * SECTOR)
    throw new Error(`writeGpt: the image has ${image.length} bytes, the table says ${disk.sectors} sectors`);
  const usable = usableSectors(disk.sectors);
  for (const p of disk.partitions) {
    if (p.first < usable.first || p.last > usable.last || p.first > p.last)
      throw new Error(
        `writeGpt: partition ${p.name} (${p.first}..${p.last}) is outside ${usable.first}..${usable.last}`,
      );
  }
  const table = entries(disk);
  protectiveMbr(disk).copy(image, 0);
  header(disk, table, true).copy(image, SECTOR);
  table.copy(image, 2 * SECTOR);
  table.copy(image, (disk.sectors - 1 - ENTRY_SECTORS) * SECTOR);
  header(disk, table, false).copy(image, (disk.sectors - 1) * SECTOR);
}
