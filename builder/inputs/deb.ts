// Reads Debian packages (ar + control.tar + data.tar) in-process, without dpkg and without root.
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { FailureError } from '../../common/errors.ts';
import { spawnTool } from '../../common/exec.ts';
import { headerFields } from '../archive/tar-header.ts';

// How a member of a .deb is compressed (from its name: data.tar.xz, data.tar.zst, data.tar.gz, data.tar).
export type DebCompression = 'xz' | 'zst' | 'gz' | 'none';

// What readDeb learns from a package's control archive.
export interface DebInfo {
  control: Record<string, string>;
  controlFiles: Map<string, Buffer>;
  dataCompression: DebCompression;
}

// The kinds of entry a package's data archive may hold ('link' is a hard link).
export type DebEntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

// One entry of a package's data archive, with its name relative to / (no leading `./`, no trailing `/`).
export interface DebEntryHeader {
  name: string;
  type: DebEntryType;
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  size: number;
  linkname?: string;
  mtime: Date;
  devmajor?: number;
  devminor?: number;
}

// A data entry together with its content (empty for everything but regular files).
export interface DebEntry {
  header: DebEntryHeader;
  content: Buffer;
}

// Options for debToTarStream.
export interface DebTarOptions {
  // Keeps only the entries whose normalised path it accepts (e.g. to drop docs and man pages).
  filter?: (path: string) => boolean;
  // Overrides every entry's mtime (for SOURCE_DATE_EPOCH builds).
  mtime?: Date;
  // Names the package in error messages.
  label?: string;
}

interface RawEntry {
  header: DebEntryHeader;
  stream: Readable;
}

const AR_MAGIC = '!<arch>\n';
const AR_HEADER = 60;

// One member of an `ar` archive; data is a view into the archive's buffer.
export interface ArMember {
  name: string;
  data: Buffer;
}

// Splits an `ar` archive into its members; GNU names end in `/`, BSD long names are `#1/<length>`.
export function parseAr(buf: Buffer, label = 'archive'): ArMember[] {
  if (buf.subarray(0, AR_MAGIC.length).toString('latin1') !== AR_MAGIC) {
    throw new FailureError(`${label} is not a Debian package: no ar header`);
  }
  const members: ArMember[] = [];
  let offset = AR_MAGIC.length;
  while (offset < buf.length) {
    if (buf.length === offset + 1 && buf[offset] === 0x0a) break;
    if (offset + AR_HEADER > buf.length)
      throw new FailureError(`${label} is truncated: partial ar member header at byte ${offset}`);
    const header = buf.subarray(offset, offset + AR_HEADER).toString('latin1');
    if (header.slice(58, 60) !== '`\n')
      throw new FailureError(`${label} is corrupt: bad ar member header at byte ${offset}`);
    let name = header.slice(0, 16).trimEnd();
    const size = Number(header.slice(48, 58).trim());
    if (!Number.isSafeInteger(size) || size < 0)
      throw new FailureError(`${label} is corrupt: bad ar member size at byte ${offset}`);
    let start = offset + AR_HEADER;
    const end = start + size;
    if (end > buf.length) throw new FailureError(`${label} is truncated: ar member ${name} needs ${size} bytes`);
    const bsd = /^#1\/(\d+)$/.exec(name);
    if (bsd) {
      const length = Number(bsd[1]);
      name = buf
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0+$/, '');
      start += length;
    } else if (name.endsWith('/') && name !== '/' && name !== '//') {
      name = name.slice(0, -1);
    }
    members.push({ name, data: buf.subarray(start, end) });
    offset = end + (size % 2);
  }
  return members;
}

// Reads a package's control archive: the parsed `control` fields and every control member (md5sums, conffiles,
// scripts).
export async function readDeb(buf: Buffer, label = 'package'): Promise<DebInfo> {
  const { control, data } = debMembers(buf, label);
  const controlFiles = new Map<string, Buffer>();
  for await (const { header, stream } of tarEntries(control.data, control.compression, `${label} control.tar`)) {
    const content = await collect(stream);
    if (header.type === 'file') controlFiles.set(header.name, content);
  }
  const controlText = controlFiles.get('control');
  if (!controlText) throw new FailureError(`${label} has no control file in its control archive`);
  return {
    control: parseControl(controlText.toString('utf8'), label),
    controlFiles,
    dataCompression: data.compression,
  };
}

// dpkg reads relationship fields as one folded line; every other continued field (Description, Built-Using, ...) keeps
// its lines.
const FOLDED_FIELDS = new Set([
  'depends',
  'pre-depends',
  'recommends',
  'suggests',
  'breaks',
  'conflicts',
  'enhances',
  'provides',
  'replaces',
]);

// Parses RFC822-style control fields the way `dpkg-deb -f` prints them: continuation lines kept verbatim after a
// newline, relationship fields folded onto one line.
export function parseControl(text: string, label = 'control'): Record<string, string> {
  const fields: Record<string, string> = {};
  let current: string | undefined;
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line === '' || line.startsWith('#')) {
      if (line === '' && index < lines.length - 1 && lines.slice(index).some((rest) => rest.trim() !== '')) {
        throw new FailureError(`${label}: control file has more than one paragraph (line ${index + 1})`);
      }
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (current === undefined) throw new FailureError(`${label}: control file starts with a continuation line`);
      fields[current] += FOLDED_FIELDS.has(current.toLowerCase()) ? ` ${line.trim()}` : `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new FailureError(`${label}: control line ${index + 1} is not a field: ${JSON.stringify(line)}`);
    current = line.slice(0, colon);
    fields[current] = line.slice(colon + 1).trim();
  }
  return fields;
}

// Every entry of a package's data archive with its content, in archive order; the archive's own root (`./`) is left
// out.
export async function* debDataEntries(buf: Buffer, label = 'package'): AsyncGenerator<DebEntry> {
  const { data } = debMembers(buf, label);
  for await (const { header, stream } of tarEntries(data.data, data.compression, `${label} data.tar`)) {
    yield { header, content: await collect(stream) };
  }
}

// A tar stream of a package's data entries with modes, owners, symlinks and hard links kept, optionally filtered.
export function debToTarStream(buf: Buffer, options: DebTarOptions = {}): tar.Pack {
  const label = options.label ?? 'package';
  const { data } = debMembers(buf, label);
  const pack = tar.pack();
  const kept = new Set<string>();
  const dropped = new Set<string>();
  void (async () => {
    for await (const { header, stream } of tarEntries(data.data, data.compression, `${label} data.tar`)) {
      if (options.filter && !options.filter(header.name)) {
        dropped.add(header.name);
        stream.resume();
        continue;
      }
      if (header.type === 'link' && !kept.has(header.linkname ?? '')) {
        const why = dropped.has(header.linkname ?? '')
          ? 'the filter drops its target'
          : 'its target is not in the archive before it';
        throw new FailureError(`${label}: hard link ${header.name} -> ${header.linkname} cannot be kept: ${why}`, {
          hint: 'keep both paths of a hard link or neither',
        });
      }
      kept.add(header.name);
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(tarHeader(header, options.mtime), (error) => (error ? reject(error) : resolve()));
        stream.pipe(sink as unknown as NodeJS.WritableStream);
      });
    }
    pack.finalize();
  })().catch((error: unknown) => pack.destroy(error as Error));
  return pack;
}

function debMembers(
  buf: Buffer,
  label: string,
): Record<'control' | 'data', { data: Buffer; compression: DebCompression }> {
  const members = parseAr(buf, label);
  if (members[0]?.name !== 'debian-binary' || !/^2\.\d+\n/.test(members[0].data.toString('latin1'))) {
    throw new FailureError(
      `${label} is not a Debian binary package version 2.x (first member: ${members[0]?.name ?? 'none'})`,
    );
  }
  const find = (kind: 'control' | 'data') => {
    const member = members.find((m) => m.name === `${kind}.tar` || m.name.startsWith(`${kind}.tar.`));
    if (!member)
      throw new FailureError(`${label} has no ${kind}.tar member (members: ${members.map((m) => m.name).join(', ')})`);
    const suffix = member.name.slice(`${kind}.tar`.length);
    const compression = ({ '': 'none', '.xz': 'xz', '.zst': 'zst', '.gz': 'gz' } as Record<string, DebCompression>)[
      suffix
    ];
    if (!compression)
      throw new FailureError(`${label}: ${member.name} uses a compression mvos does not read (xz, zst, gz or none)`);
    return { data: member.data, compression };
  };
  return { control: find('control'), data: find('data') };
}

function decompress(data: Buffer, compression: DebCompression, label: string): Readable {
  if (compression === 'none') return Readable.from([data]);
  if (compression === 'gz') {
    const gunzip = createGunzip();
    gunzip.end(data);
    return gunzip;
  }
  return externalDecompress(compression === 'xz' ? 'xz' : 'zstd', data, label);
}

// The output only ends once the tool has exited cleanly, so a truncated stream can never pass for a complete one.
function externalDecompress(tool: 'xz' | 'zstd', data: Buffer, label: string): Readable {
  const out = new PassThrough();
  const child = spawnTool(tool, ['-dc'], { input: data });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  let outputEnded = false;
  let exited = false;
  const finish = () => {
    if (outputEnded && exited) out.end();
  };
  child.stdout?.on('end', () => {
    outputEnded = true;
    finish();
  });
  child.stdout?.pipe(out, { end: false });
  child.then(
    () => {
      exited = true;
      finish();
    },
    (error: { code?: string; exitCode?: number; isTerminated?: boolean }) => {
      if (out.destroyed) return;
      const hint =
        error.code === 'ENOENT'
          ? `${tool} is not installed: run \`apt-get install ${tool === 'xz' ? 'xz-utils' : 'zstd'}\``
          : undefined;
      const why = error.exitCode !== undefined ? `exited with ${error.exitCode}` : 'could not run';
      out.destroy(new FailureError(`${label}: ${tool} -dc ${why}: ${stderr.trim()}`.trim(), { hint, cause: error }));
    },
  );
  out.on('close', () => {
    if (!exited) child.kill();
  });
  return out;
}

async function* tarEntries(data: Buffer, compression: DebCompression, label: string): AsyncGenerator<RawEntry> {
  const extract = tar.extract();
  const feeding = pipeline(decompress(data, compression, label), extract as unknown as NodeJS.WritableStream).catch(
    (error: unknown) => {
      extract.destroy(error as Error);
    },
  );
  try {
    for await (const entry of extract) {
      const header = normaliseHeader(entry.header, label);
      if (header) yield { header, stream: entry as unknown as Readable };
      else entry.resume();
    }
  } catch (error) {
    if (error instanceof FailureError) throw error;
    throw new FailureError(`${label} is corrupt: ${(error as Error).message}`, { cause: error });
  } finally {
    extract.destroy();
    await feeding;
  }
}

function normaliseHeader(raw: tar.Header, label: string): DebEntryHeader | undefined {
  const name = normalisePath(raw.name);
  if (name === '') return undefined;
  const type = raw.type === 'contiguous-file' ? 'file' : raw.type;
  if (
    type !== 'file' &&
    type !== 'directory' &&
    type !== 'symlink' &&
    type !== 'link' &&
    type !== 'character-device' &&
    type !== 'block-device' &&
    type !== 'fifo'
  ) {
    throw new FailureError(`${label}: entry ${raw.name} has a type mvos does not understand (${type})`);
  }
  const header: DebEntryHeader = {
    name,
    type,
    ...headerFields(raw, normalisePath),
    size: type === 'file' ? (raw.size ?? 0) : 0,
    mtime: raw.mtime ?? new Date(0),
  };
  if (raw.uname) header.uname = raw.uname;
  if (raw.gname) header.gname = raw.gname;
  return header;
}

function normalisePath(path: string): string {
  let name = path;
  while (name.startsWith('./')) name = name.slice(2);
  name = name.replace(/^\/+/, '').replace(/\/+$/, '');
  return name === '.' ? '' : name;
}

const TYPE_BITS: Record<DebEntryType, number> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  link: 0o100000,
  'character-device': 0o020000,
  'block-device': 0o060000,
  fifo: 0o010000,
};

function tarHeader(header: DebEntryHeader, mtime: Date | undefined): Partial<tar.Header> & { name: string } {
  return {
    name: header.type === 'directory' ? `${header.name}/` : header.name,
    type: header.type,
    // tar-stream replaces a mode of 0 with its default; the file-type bits keep it non-zero and are masked off when
    // encoded.
    mode: header.mode | TYPE_BITS[header.type],
    uid: header.uid,
    gid: header.gid,
    uname: header.uname,
    gname: header.gname,
    size: header.size,
    linkname: header.linkname,
    mtime: mtime ?? header.mtime,
    devmajor: header.devmajor,
    devminor: header.devminor,
  };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
