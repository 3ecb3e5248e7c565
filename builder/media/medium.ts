// What the build needs to know of one boot medium: the host packages its writer runs, the code in its stage key, its
// writer.
import type { MediaInput } from './input.ts';

// One boot medium, written from an image's kernel and initrd.
export interface Medium {
  // Package names from builder/tools/requirements.ts.
  packages: readonly string[];
  // Repo-relative files whose change rewrites the medium (in its stage key): its module, whose imports follow, and the
  // data files they read.
  code: readonly string[];
  // false: the files are the built kernel and initrd themselves, which every build writes; no stage needed.
  staged: boolean;
  // File name → bytes.
  write: (input: MediaInput) => Promise<Record<string, Buffer>>;
}
