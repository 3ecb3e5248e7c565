// Every boot medium in one table, by the name a recipe's outputs give it. Adding a medium is one module and one line.
import type { OutputFormat } from '../recipe/types.ts';
import { isoMedium } from './iso.ts';
import { kernelInitrdMedium } from './kernel-initrd.ts';
import type { Medium } from './medium.ts';
import { qcow2Medium } from './qcow2.ts';
import { rawMedium } from './raw.ts';

// The outputs written from an image's kernel and initrd: all but erofs, the root tree as a disk, which the image's
// erofs stage makes.
export type MediumName = Exclude<OutputFormat, 'erofs'>;

// The table; kernel+initrd stays first (the default output, and the files `mvos run` boots directly).
export const MEDIA: Readonly<Record<MediumName, Medium>> = {
  'kernel+initrd': kernelInitrdMedium,
  iso: isoMedium,
  raw: rawMedium,
  qcow2: qcow2Medium,
};

// Whether a recipe output is a boot medium (the one that is not is erofs).
export function isMedium(output: OutputFormat): output is MediumName {
  return output !== 'erofs';
}
