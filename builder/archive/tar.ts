// Deterministic tar archives of a FileTree (the one wrapper around tar-stream): fixed mtime, numeric owners, tree
// order.
import * as tarStream from 'tar-stream';
import { FailureError } from '../../common/errors.ts';
import { type EntryType, FileTree, fileTypeBits, normaliseTreePath, type TreeEntry } from '../rootfs/tree.ts';
import { headerFields } from './tar-header.ts';

type TarHeader = Partial<tarStream.Header> & Pick<tarStream.Header, 'name'>;

const TAR_TYPES: Record<EntryType, tarStream.Header['type']> = {
  file: 'file',
  directory: 'directory',
  symlink: 'symlink',
  hardlink: 'link',
  char: 'character-device',
  block: 'block-device',
  fifo: 'fifo',
};

// Writes the tree as a ustar archive (pax records only for long or non-ASCII names); the same tree and mtime give the
// same bytes.
export async function writeTar(tree: FileTree, options: { mtime: number }): Promise<Buffer> {
  const mtime = checkedMtime(options.mtime);
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('data', (chunk) => {
      chunks.push(chunk as Buffer);
    });
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  // GNU tar extracts a hard link by linking to a member it has already written, so the first path of each link group in
  // tree order carries the content.
  const firstOfGroup = new Map<string, string>();
  for (const entry of tree.entries()) {
    let header: TarHeader;
    let content: Buffer | undefined;
    if (entry.type === 'file' || entry.type === 'hardlink') {
      const holder = entry.type === 'file' ? entry : tree.get(entry.linkname!)!;
      const first = firstOfGroup.get(holder.path);
      // A hard link shares its target's inode, so the target's mode and owner describe every path of the group.
      header = baseHeader({ ...holder, path: entry.path }, mtime);
      if (first === undefined) {
        firstOfGroup.set(holder.path, entry.path);
        content = holder.content!;
      } else {
        header = { ...header, type: 'link', linkname: first, mode: holder.mode | fileTypeBits.hardlink };
      }
    } else {
      header = baseHeader(entry, mtime);
    }
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (content) pack.entry(header, content, done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

// Reads a tar archive into a new tree; every entry gets the given origin, timestamps and owner names are dropped.
export async function readTar(buf: Buffer, options: { origin: string }): Promise<FileTree> {
  const tree = new FileTree();
  const extract = tarStream.extract();
  extract.end(buf);
  try {
    for await (const entry of extract) {
      const raw = entry.header;
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const path = normaliseTreePath(raw.name);
      if (path === '') continue;
      const type = treeType(raw.type, raw.name);
      const added: TreeEntry = { path, type, ...headerFields(raw, normaliseTreePath), origin: options.origin };
      if (type === 'file') added.content = Buffer.concat(chunks);
      tree.add(added);
    }
  } catch (error) {
    if (error instanceof FailureError) throw error;
    throw new FailureError(`${options.origin} is not a readable tar archive: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return tree;
}

function baseHeader(entry: Readonly<TreeEntry>, mtime: Date): TarHeader {
  const header: TarHeader = {
    name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
    type: TAR_TYPES[entry.type],
    // tar-stream replaces a mode of 0 with its default; the file-type bits keep it non-zero and are masked off when
    // encoded.
    mode: entry.mode | fileTypeBits[entry.type],
    uid: entry.uid,
    gid: entry.gid,
    mtime,
  };
  if (entry.type === 'symlink') header.linkname = entry.linkname;
  if (entry.type === 'char' || entry.type === 'block') {
    header.devmajor = entry.devmajor;
    header.devminor = entry.devminor;
  }
  return header;
}

function treeType(type: tarStream.Header['type'], name: string): EntryType {
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    case 'character-device':
      return 'char';
    case 'block-device':
      return 'block';
    case 'fifo':
      return 'fifo';
    default:
      throw new FailureError(`tar entry ${name} has a type a root file system cannot hold (${type})`);
  }
}

function checkedMtime(mtime: number): Date {
  // ustar's mtime field holds 11 octal digits; the ustar range keeps every reader happy.
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > 0o77777777777) {
    throw new FailureError(`archive mtime ${mtime} is not a whole number of seconds between 1970 and the ustar limit`);
  }
  return new Date(mtime * 1000);
}
