// Initramfs archives: a FileTree as a cpio `newc` stream, the only format the Linux kernel unpacks.
// Not cpio-stream (tried first): it truncates non-ASCII names, turns mode 0 into 0644 and mtime 0 into "now",
// and writes devminor 0x3FFFF; newc is small, and the tests check every archive with GNU cpio.
import { FailureError } from '../../common/errors.ts';
import { type FileTree, fileTypeBits, type TreeEntry } from '../rootfs/tree.ts';

const MAGIC = '070701';
const HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';
// GNU cpio pads archives to 512-byte blocks; doing the same keeps archives concatenable and byte-comparable with its
// output.
const BLOCK = 512;

interface NewcHeader {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  filesize: number;
  rdevmajor: number;
  rdevminor: number;
  name: Buffer;
}

// Writes the tree as a newc archive in tree order (directories before their contents). Hard links become full copies
// of their target, or with `links` real hard links: one inode number and nlink for all names, the bytes once (on the
// first name in tree order; the kernel and GNU cpio both join the names by inode number and take the data where it is).
export async function writeCpioNewc(tree: FileTree, options: { mtime: number; links?: boolean }): Promise<Buffer> {
  const mtime = options.mtime;
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > 0xffffffff) {
    throw new FailureError(`archive mtime ${mtime} does not fit a cpio newc header (0 to 2^32-1 seconds)`);
  }
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (buf: Buffer) => {
    parts.push(buf);
    offset += buf.length;
  };
  const names = options.links ? linkCounts(tree) : new Map<string, number>();
  const linked = new Map<string, number>();
  let ino = 0;
  for (const entry of tree.entries()) {
    // The kernel joins entries with nlink > 1 and equal inode numbers into hard links; copies with nlink 1 need no
    // bookkeeping, cost only bytes in the compressed image, and unpack the same everywhere.
    const holder: Readonly<TreeEntry> = entry.type === 'hardlink' ? tree.get(entry.linkname!)! : entry;
    const nlink = names.get(holder.path) ?? (holder.type === 'directory' ? 2 : 1);
    const seen = nlink > 1 && holder.type === 'file' ? linked.get(holder.path) : undefined;
    const data =
      seen !== undefined
        ? Buffer.alloc(0)
        : holder.type === 'file'
          ? holder.content!
          : holder.type === 'symlink'
            ? Buffer.from(holder.linkname!, 'utf8')
            : Buffer.alloc(0);
    const number = seen ?? ++ino;
    if (nlink > 1 && holder.type === 'file') linked.set(holder.path, number);
    push(
      encodeHeader(
        {
          ino: number,
          mode: fileTypeBits[holder.type] | holder.mode,
          uid: holder.uid,
          gid: holder.gid,
          nlink,
          mtime,
          filesize: data.length,
          rdevmajor: holder.devmajor ?? 0,
          rdevminor: holder.devminor ?? 0,
          name: Buffer.from(entry.path, 'utf8'),
        },
        offset,
      ),
    );
    push(data);
    push(padding(offset, 4));
  }
  push(
    encodeHeader(
      {
        ino: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        nlink: 1,
        mtime: 0,
        filesize: 0,
        rdevmajor: 0,
        rdevminor: 0,
        name: Buffer.from(TRAILER),
      },
      offset,
    ),
  );
  push(padding(offset, BLOCK));
  return Buffer.concat(parts, offset);
}

// How many names each hard-linked regular file has (itself and its links); files without links are not listed.
function linkCounts(tree: FileTree): Map<string, number> {
  const counts = new Map<string, number>();
  for (const entry of tree.entries()) {
    if (entry.type === 'hardlink') counts.set(entry.linkname!, (counts.get(entry.linkname!) ?? 1) + 1);
  }
  return counts;
}

// A header plus its NUL-terminated name, padded so the data that follows starts on a 4-byte boundary of the archive.
function encodeHeader(header: NewcHeader, offset: number): Buffer {
  const name = header.name.toString('utf8');
  const fields = [
    header.ino,
    header.mode,
    header.uid,
    header.gid,
    header.nlink,
    header.mtime,
    header.filesize,
    0, // devmajor: one pretend device for the whole archive
    0, // devminor
    header.rdevmajor,
    header.rdevminor,
    header.name.length + 1,
    0, // check: only the 070702 (crc) format fills it
  ].map((value, index) => hex(value, name, index));
  const head = Buffer.from(MAGIC + fields.join(''), 'latin1');
  const nameBlock = Buffer.concat([header.name, Buffer.alloc(1)]);
  const size = HEADER_SIZE + nameBlock.length;
  return Buffer.concat([head, nameBlock, padding(offset + size, 4)], size + padding(offset + size, 4).length);
}

const FIELD_NAMES = [
  'ino',
  'mode',
  'uid',
  'gid',
  'nlink',
  'mtime',
  'filesize',
  'devmajor',
  'devminor',
  'rdevmajor',
  'rdevminor',
  'namesize',
  'check',
];

function hex(value: number, name: string, index: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new FailureError(
      `cannot write ${name} into a cpio newc archive: its ${FIELD_NAMES[index]} (${value}) does not fit 32 bits`,
      {
        hint:
          FIELD_NAMES[index] === 'filesize'
            ? 'newc holds files up to 4 GiB; keep bigger files out of the initramfs'
            : undefined,
      },
    );
  }
  return value.toString(16).toUpperCase().padStart(8, '0');
}

function padding(offset: number, to: number): Buffer {
  return Buffer.alloc((to - (offset % to)) % to);
}

// Splits concatenated newc archives (an initramfs made of segments) at their trailers, each archive with its block
// padding; what follows the last trailer that is not another archive is left out. Bounds are checked on every header.
export function splitNewcArchives(buf: Buffer): Buffer[] {
  const archives: Buffer[] = [];
  let start = 0;
  let at = 0;
  while (at + HEADER_SIZE <= buf.length && buf.toString('latin1', at, at + 6) === MAGIC) {
    const field = (index: number) =>
      Number.parseInt(buf.toString('latin1', at + 6 + index * 8, at + 14 + index * 8), 16);
    const nameSize = field(11);
    const fileSize = field(6);
    const name = buf.toString('latin1', at + HEADER_SIZE, at + HEADER_SIZE + Math.max(0, nameSize - 1));
    const dataAt = alignUp(at + HEADER_SIZE + nameSize, 4);
    at = alignUp(dataAt + fileSize, 4);
    if (!Number.isFinite(at) || at > buf.length) throw new FailureError(`newc archive is cut short at byte ${dataAt}`);
    if (name !== TRAILER) continue;
    while (at < buf.length && buf[at] === 0) at++;
    archives.push(buf.subarray(start, at));
    start = at;
  }
  if (buf.toString('latin1', start, start + 6) === MAGIC)
    throw new FailureError(`newc archive at byte ${start} is cut short: it has no trailer`);
  return archives;
}

function alignUp(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}
