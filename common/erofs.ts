// mkfs.erofs (erofs-utils 1.5, Debian 12) run so that the same directory tree gives the same image bytes.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { FailureError } from './errors.ts';
import { runTool } from './exec.ts';

// How one image is made: its timestamp, its UUID, and whether every file becomes root's.
export interface ErofsOptions {
  sourceDateEpoch: number;
  uuid: string;
  // true: --all-root (a builder that is not root cannot chown); false: owners as they are in the directory.
  allRoot: boolean;
}

// A UUID made from a content digest (RFC 4122 name-based layout, version 5 bits), so the image names what it holds.
export function uuidFromDigest(material: string | Buffer): string {
  const hex = createHash('sha256').update(material).digest('hex').slice(0, 32).split('');
  hex[12] = '5';
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// The image of `dir` written to `output` and read back. lz4hc keeps it small and the guest kernel reads it
// (EROFS_FS_ZIP); xattrs are left out (-x-1) because the build host's labels are not the image's.
export async function mkfsErofs(dir: string, output: string, options: ErofsOptions): Promise<Buffer> {
  const args = [
    '-zlz4hc',
    '-x-1',
    `-T${options.sourceDateEpoch}`,
    `-U${options.uuid}`,
    '--quiet',
    ...(options.allRoot ? ['--all-root'] : []),
    output,
    dir,
  ];
  const result = await runTool('mkfs.erofs', args, { allowFailure: true });
  if (result.exitCode !== 0) {
    throw new FailureError(
      `mkfs.erofs failed on ${dir}: ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join(' / ')}`,
      {
        hint: 'is erofs-utils installed (`./mvos doctor`)?',
      },
    );
  }
  return readFile(output);
}
