// The raw GPT disk converted to qcow2 by qemu-img, for VM managers that take qcow2 images.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../../common/exec.ts';
import { GRUB_CFG_SOURCE } from './grub.ts';
import type { MediaInput } from './input.ts';
import type { Medium } from './medium.ts';
import { rawMedium, writeRaw } from './raw.ts';

// Writes the raw disk into a scratch folder and converts it there.
export async function writeQcow2(input: MediaInput): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-qcow2-'));
  try {
    await writeFile(join(dir, 'disk.raw'), await writeRaw(input));
    await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(dir, 'disk.raw'), join(dir, 'disk.qcow2')]);
    return await readFile(join(dir, 'disk.qcow2'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// <name>.qcow2: the raw disk's tools plus qemu-img.
export const qcow2Medium: Medium = {
  packages: [...rawMedium.packages, 'qemu-utils'],
  code: ['builder/media/qcow2.ts', GRUB_CFG_SOURCE],
  staged: true,
  write: async (input) => ({ [`${input.name}.qcow2`]: await writeQcow2(input) }),
};
