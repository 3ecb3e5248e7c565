// The default medium: the built kernel and initrd as they are, the files `mvos run` boots directly.
import type { Medium } from './medium.ts';

// vmlinuz and initrd; no host tools, no stage.
export const kernelInitrdMedium: Medium = {
  packages: [],
  code: [],
  staged: false,
  write: async (input) => ({ vmlinuz: input.vmlinuz, initrd: input.initrd }),
};
