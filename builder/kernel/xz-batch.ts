// Many small .xz files decompressed by one xz process: their streams go in one after another (xz reads concatenated
// streams as one input), and the output is cut again by the sizes each file's own index declares.
import { spawnTool } from '../../common/exec.ts';

const STREAM_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

// The decompressed size a single-stream .xz file declares in its index, or undefined when the file is not exactly one
// stream whose index accounts for every byte (then it is decompressed on its own).
export function xzDeclaredSize(file: Buffer): number | undefined {
  if (file.length < 32 || !file.subarray(0, 6).equals(STREAM_MAGIC)) return undefined;
  if (file[file.length - 2] !== 0x59 || file[file.length - 1] !== 0x5a) return undefined;
  const indexSize = (file.readUInt32LE(file.length - 8) + 1) * 4;
  const indexStart = file.length - 12 - indexSize;
  if (indexStart < 12 || file[indexStart] !== 0) return undefined;
  let at = indexStart + 1;
  const varint = (): number | undefined => {
    let value = 0;
    for (let i = 0; i < 9; i++) {
      const byte = file[at++];
      if (byte === undefined || at > file.length - 12) return undefined;
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) return value;
    }
    return undefined;
  };
  const records = varint();
  if (records === undefined || records > 1_000_000) return undefined;
  let blocks = 0;
  let size = 0;
  for (let i = 0; i < records; i++) {
    const unpadded = varint();
    const uncompressed = varint();
    if (unpadded === undefined || uncompressed === undefined) return undefined;
    blocks += Math.ceil(unpadded / 4) * 4;
    size += uncompressed;
  }
  // Header, blocks, index, footer: nothing else, so the next file's stream starts right after this one.
  return 12 + blocks + indexSize + 12 === file.length ? size : undefined;
}

// Each file's decompressed bytes, in order; undefined when a file's size cannot be known from its index or the output
// does not add up (the caller then decompresses one by one).
export async function decompressXzBatch(files: readonly Buffer[]): Promise<Buffer[] | undefined> {
  const sizes = files.map(xzDeclaredSize);
  if (files.length === 0 || sizes.some((s) => s === undefined)) return undefined;
  const child = spawnTool('xz', ['-dc'], { input: Buffer.concat(files) });
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  await child;
  const all = Buffer.concat(chunks);
  if (all.length !== sizes.reduce((n: number, s) => n + s!, 0)) return undefined;
  const parts: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    parts.push(all.subarray(at, at + size!));
    at += size!;
  }
  return parts;
}
