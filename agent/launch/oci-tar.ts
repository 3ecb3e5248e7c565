// Reading a tar stream entry by entry, for image archives and layers alike: whichever side fails first (an entry's
// handler, or the stream below it: a cap, a broken gzip, a truncated tar), the unpack ends with one clear error.
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar, { type Extract } from 'tar-stream';
import { UserError } from '../../common/errors.ts';

// One member of a tar stream: its header and its content.
export type TarEntry = Extract extends AsyncIterable<infer T> ? T : never;

// Passes each entry of input (through the transforms) to handle in turn; `what` names the input if the stream fails.
export async function eachEntry(
  input: Readable,
  transforms: Transform[],
  what: string,
  handle: (entry: TarEntry) => Promise<void>,
): Promise<void> {
  const extract = tar.extract();
  const done = pipeline([input, ...transforms, extract]);
  // Awaited below; marked handled now, as a broken stream can fail it while an entry is still being handled.
  done.catch(() => undefined);
  try {
    for await (const entry of extract) {
      try {
        await handle(entry);
      } finally {
        entry.resume();
      }
    }
    await done;
  } catch (error) {
    extract.destroy();
    const streamError = await done.then(
      () => undefined,
      (e: unknown) => e,
    );
    // A failing stream ends the entries with whatever error the parser saw; the stream's own error says why.
    if (error instanceof UserError || !(streamError instanceof Error)) throw error;
    if (streamError instanceof UserError) throw streamError;
    throw new UserError(`cannot read ${what}: ${streamError.message}`, {
      cause: streamError,
      hint: 'the image is damaged or not made of (gzipped) tars; save or pull it again',
    });
  }
}
