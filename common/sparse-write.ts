// Writes that leave runs of zeros as holes: a disk image's free space (most of a raw disk) then costs neither the write
// nor the fsync, and the file is sparse. The bytes read back are the same.
import type { FileHandle } from 'node:fs/promises';

// The smallest run of zeros left unwritten.
const HOLE = 64 << 10;
const ZEROS = Buffer.alloc(HOLE);

// Writes `bytes` at `position`, skipping every whole run of HOLE zero bytes. The caller ends the file with
// `file.truncate(length)`, so that holes at its end count in its length.
export async function writeSparse(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let piece = 0; piece < buffer.length; piece += HOLE) {
    const part = buffer.subarray(piece, Math.min(piece + HOLE, buffer.length));
    if (part.length === HOLE && part.equals(ZEROS)) continue;
    for (let done = 0; done < part.length; )
      done += (await file.write(part, done, part.length - done, position + piece + done)).bytesWritten;
  }
}
