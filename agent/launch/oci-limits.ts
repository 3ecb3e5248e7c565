// Caps on what unpacking one image may write: a small gzip can expand a thousandfold, and a tar can hold millions of
// empty files, so bytes and entries are counted as they stream and the first one past its cap stops the unpack.
import { Transform } from 'node:stream';
import { UserError } from '../../common/errors.ts';

// The caps of one image (UnpackOptions.maxBytes / maxEntries); each phase (its archive, its layers) counts against
// them.
export interface UnpackLimits {
  maxBytes: number;
  maxEntries: number;
}

// 4 GiB and 200,000 entries: well above common base images (a full Debian with toolchains is ~1.5 GiB, ~60,000 files).
export const DEFAULT_LIMITS: Readonly<UnpackLimits> = { maxBytes: 4 * 2 ** 30, maxEntries: 200_000 };

// The limits an unpack runs under: the defaults, with the caller's caps where given (positive whole numbers only).
export function unpackLimits(given: Partial<UnpackLimits> = {}): UnpackLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const key of ['maxBytes', 'maxEntries'] as const) {
    const value = given[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new UserError(`${key} must be a positive whole number (got ${value})`);
    limits[key] = value;
  }
  return limits;
}

function human(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const)
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  return `${bytes} bytes`;
}

const HINT =
  'the image is a decompression bomb or larger than this host accepts; a genuine one needs a higher cap for the unpack';

// What one phase has used of the caps; `scope` names it in the refusal ('its layers', 'its archive').
export class UnpackBudget {
  bytes = 0;
  entries = 0;
  constructor(
    readonly limits: UnpackLimits,
    readonly scope: string,
  ) {}

  // Counts n more bytes; refuses once the total passes maxBytes.
  takeBytes(n: number): void {
    this.bytes += n;
    if (this.bytes > this.limits.maxBytes)
      throw new UserError(
        `refusing the image: more than ${human(this.limits.maxBytes)} in ${this.scope} (the maxBytes cap)`,
        { hint: HINT },
      );
  }

  // Counts one more entry; refuses once the total passes maxEntries.
  takeEntry(): void {
    this.entries += 1;
    if (this.entries > this.limits.maxEntries)
      throw new UserError(
        `refusing the image: more than ${this.limits.maxEntries} entries in ${this.scope} (the maxEntries cap)`,
        { hint: HINT },
      );
  }

  // A pass-through that counts every byte on its way and fails the stream at the cap, before the bytes go further.
  meter(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        try {
          this.takeBytes(chunk.length);
        } catch (error) {
          return done(error as Error);
        }
        done(null, chunk);
      },
    });
  }
}
