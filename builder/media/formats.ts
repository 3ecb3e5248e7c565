// Every output format in one table: its name, the host packages it needs and its writer. Adding a format is one module and one line.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OutputFormat } from '../recipe/types.ts';
import { whichCommand } from '../tools/doctor.ts';
import { runTool } from '../../common/exec.ts';
import { REQUIREMENTS } from '../tools/requirements.ts';
import type { MediaInput } from './input.ts';
import { writeIso } from './iso.ts';
import { writeRaw } from './raw.ts';

// One output format: its Debian packages, the source files in its stage key, and its writer (file name → bytes).
export interface MediaFormat {
  // Package names from builder/tools/requirements.ts.
  packages: readonly string[];
  code: readonly string[];
  // false: the files are the built kernel and initrd themselves, no stage needed.
  staged: boolean;
  write: (input: MediaInput) => Promise<Record<string, Buffer>>;
}

const grubCode = ['builder/media/grub.ts', 'builder/media/fat.ts', 'builder/media/input.ts', 'rootfs/boot/grub.cfg.hbs'];
const rawCode = [...grubCode, 'builder/media/raw.ts', 'builder/media/gpt.ts'];

async function qcow2(input: MediaInput): Promise<Record<string, Buffer>> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-qcow2-'));
  try {
    await writeFile(join(dir, 'disk.raw'), await writeRaw(input));
    await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(dir, 'disk.raw'), join(dir, 'disk.qcow2')]);
    return { [`${input.name}.qcow2`]: await readFile(join(dir, 'disk.qcow2')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// The table; kernel+initrd stays first (the default output, and the files `mvos run` boots directly).
export const FORMATS: Readonly<Record<OutputFormat, MediaFormat>> = {
  'kernel+initrd': { packages: [], code: [], staged: false, write: async (i) => ({ vmlinuz: i.vmlinuz, initrd: i.initrd }) },
  iso: { packages: ['xorriso', 'mtools', 'grub-common', 'grub-pc-bin', 'grub-efi-amd64-bin'], code: [...grubCode, 'builder/media/iso.ts', 'builder/media/gpt.ts'], staged: true, write: async (i) => ({ [`${i.name}.iso`]: await writeIso(i) }) },
  raw: { packages: ['mtools', 'grub-common', 'grub-pc-bin', 'grub-efi-amd64-bin'], code: rawCode, staged: true, write: async (i) => ({ [`${i.name}.raw`]: await writeRaw(i) }) },
  qcow2: { packages: ['mtools', 'grub-common', 'grub-pc-bin', 'grub-efi-amd64-bin', 'qemu-utils'], code: [...rawCode, 'builder/media/formats.ts'], staged: true, write: qcow2 },
  // Made from the root tree by the image's erofs stage (builder/pipeline/image.ts), which a kernel and initrd cannot give.
  erofs: { packages: ['erofs-utils'], code: [], staged: false, write: () => Promise.reject(new Error('the erofs output is built from the rootfs by the image stage, not by a media writer')) },
};

// The packages the given formats need that this host lacks (sorted, each once).
export async function missingMediaPackages(formats: readonly OutputFormat[]): Promise<string[]> {
  return missingPackages(formats.flatMap((f) => FORMATS[f].packages));
}

// The Debian packages a signed boot image needs besides binutils' objcopy: the EFI stub and sbsign.
export const SECURE_BOOT_PACKAGES = ['systemd-boot-efi', 'sbsigntool'] as const;

// Which of the named packages (from builder/tools/requirements.ts) this host lacks, sorted, each once.
export async function missingPackages(names: readonly string[]): Promise<string[]> {
  const wanted = [...new Set(names)];
  const missing: string[] = [];
  for (const name of wanted) {
    const requirement = REQUIREMENTS.find((r) => r.package === name);
    if (!requirement) throw new Error(`${name} is needed, but builder/tools/requirements.ts does not list it`);
    for (const d of requirement.detect) {
      const found = 'file' in d ? existsSync(d.file) : (await whichCommand(d.command)) !== undefined;
      if (!found) {
        missing.push(name);
        break;
      }
    }
  }
  return missing.sort();
}
