// Firmware stages: the pinned OVMF/SeaBIOS files out of their .debs, and each VM's NVRAM store written from its guest
// recipe.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailureError, UserError } from '../../common/errors.ts';
import { defaultKeyDir, type KeyRole, keyFiles, loadKeySet } from '../firmware/keys.ts';
import { extractFirmware, FIRMWARE_FILES, FIRMWARE_PACKAGES, type FirmwareFile } from '../firmware/pinned.ts';
import type { Preset } from '../firmware/preset.ts';
import { buildUki, signImage } from '../firmware/uki.ts';
import { hasVarstore, recipePreset, vmVarstore } from '../firmware/vm.ts';
import type { ContentCache } from '../inputs/cache.ts';
import { type Lockfile, pinOf } from '../inputs/lockfile.ts';
import type { Recipe, VmSpec } from '../recipe/types.ts';
import { packageVersions } from '../tools/versions.ts';
import { osRelease } from './generated.ts';
import { hashCode } from './sources.ts';
import { runLoggedStage, runStage, type StageRunner, sha256 } from './stage.ts';

// The stages' own module: its imports hold the firmware code of all three (extraction, NVRAM stores, signed UKIs).
const FIRMWARE_CODE = ['builder/pipeline/firmware.ts'];

async function firmwareInputs(lock: Lockfile): Promise<Record<string, string>> {
  const inputs: Record<string, string> = { code: await hashCode(FIRMWARE_CODE) };
  for (const name of FIRMWARE_PACKAGES) {
    if (!lock.packages[name])
      throw new UserError(`the lockfile pins no ${name} package, which the firmware files come from`, {
        hint: 'run `mvos lock <recipe>` again',
      });
    inputs[name] = pinOf(lock, name).sha256;
  }
  return inputs;
}

async function produceFirmware(cache: ContentCache, lock: Lockfile): Promise<Record<string, Buffer>> {
  const read = async (name: (typeof FIRMWARE_PACKAGES)[number]) => {
    const pin = pinOf(lock, name);
    return { deb: await cache.read(pin.sha256, `${pin.name} ${pin.version}`), label: `${pin.name} ${pin.version}` };
  };
  return extractFirmware({ ovmf: await read('ovmf'), seabios: await read('seabios') });
}

// The pinned firmware files as cache blobs (name → sha256), extracted once per pair of package hashes.
export async function pinFirmware(runner: StageRunner, lock: Lockfile): Promise<Record<FirmwareFile, string>> {
  const record = await runLoggedStage(runner, 'firmware', await firmwareInputs(lock), () =>
    produceFirmware(runner.cache, lock),
  );
  return record.outputs as Record<FirmwareFile, string>;
}

// The pinned firmware files as paths in the cache, for QEMU outside a build (boot checks): code files are read-only
// there, copy vars first.
export async function pinnedFirmwarePaths(cache: ContentCache, lock: Lockfile): Promise<Record<FirmwareFile, string>> {
  const record = await runStage(cache, 'firmware', await firmwareInputs(lock), () => produceFirmware(cache, lock));
  const out = {} as Record<FirmwareFile, string>;
  for (const name of Object.keys(FIRMWARE_FILES) as FirmwareFile[]) out[name] = cache.path(record.outputs[name]!);
  return out;
}

// The Secure Boot certificates (public halves only) a VM with ovmf-secureboot gets enrolled; a missing key set says how
// to make one.
export async function enrolledCertificates(keyDir = defaultKeyDir()): Promise<Record<KeyRole, Buffer>> {
  try {
    return await loadKeySet(keyDir);
  } catch (cause) {
    throw new UserError(`Secure Boot needs the project's keys: ${(cause as Error).message}`, {
      cause,
      hint: `run \`mvos keys init\` (keys go to ${keyDir}, outside the repository), then build again`,
    });
  }
}

function presetOf(vm: VmSpec): Preset {
  try {
    return recipePreset(vm.recipe.firmware);
  } catch (cause) {
    throw new UserError(`VM ${vm.name}: ${(cause as Error).message}`, {
      cause,
      hint: 'name a preset in firmware/presets/ (firmware.preset in its recipe)',
    });
  }
}

// Each VM's VARS file (VM name → blob) for the VMs whose firmware keeps one; keyed by preset, recipe settings, template
// and keys.
export async function makeVmVars(
  runner: StageRunner,
  hostName: string,
  vms: readonly VmSpec[],
  firmware: Record<FirmwareFile, string>,
): Promise<Record<string, string>> {
  const wanted = vms.filter((vm) => vm.launch === 'vm' && hasVarstore(vm.recipe.firmware.type));
  if (wanted.length === 0) return {};
  const secure = wanted.some((vm) => vm.recipe.firmware.type === 'ovmf-secureboot');
  const certs = secure ? await enrolledCertificates() : undefined;
  const settings = wanted.map((vm) => [vm.name, vm.recipe.firmware, presetOf(vm)]);
  const inputs = {
    template: firmware['ovmf-vars'],
    vms: sha256(JSON.stringify(settings)),
    certs: certs ? sha256(JSON.stringify(Object.entries(certs).map(([role, der]) => [role, sha256(der)]))) : '',
    code: await hashCode(FIRMWARE_CODE),
  };
  const record = await runLoggedStage(runner, `vm-vars(${hostName})`, inputs, async () => {
    const template = await runner.cache.read(firmware['ovmf-vars'], 'OVMF VARS template');
    const out: Record<string, Buffer> = {};
    for (const vm of wanted) {
      try {
        out[vm.name] = vmVarstore(vm.recipe.firmware, template, certs);
      } catch (cause) {
        throw new FailureError(`VM ${vm.name}: cannot write its NVRAM store: ${(cause as Error).message}`, { cause });
      }
    }
    return out;
  });
  return record.outputs;
}

// The db key and certificate that sign boot images; a missing or partial set is the user's to make.
export function signingKey(keyDir = defaultKeyDir()): { key: string; crt: string } {
  const db = keyFiles(keyDir, 'db');
  const missing = [db.key, db.crt].filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new UserError(
      `Secure Boot signs the boot image with the db key, and ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing`,
      {
        hint: `run \`mvos keys init\` (keys go to ${keyDir}, outside the repository), or put your own db.key and db.crt there; then build again`,
      },
    );
  }
  return db;
}

// The Debian packages a signed boot image needs besides binutils' objcopy: the EFI stub and sbsign.
export const SECURE_BOOT_PACKAGES = ['systemd-boot-efi', 'sbsigntool'] as const;

// What a signed boot image is made of.
export interface UkiInputs {
  recipe: Recipe;
  vmlinuz: string;
  initrd: string;
  cmdline: string;
  sourceDateEpoch: number;
}

// The UKI (systemd stub + os-release + cmdline + kernel + initramfs) signed with the db key, so firmware checks all of
// it; its signing time is SOURCE_DATE_EPOCH.
export async function makeSignedUki(runner: StageRunner, parts: UkiInputs): Promise<string> {
  const db = signingKey();
  const inputs = {
    vmlinuz: parts.vmlinuz,
    initrd: parts.initrd,
    cmdline: parts.cmdline,
    osRelease: sha256(osRelease(parts.recipe)),
    cert: sha256(await readFile(db.crt)),
    sde: String(parts.sourceDateEpoch),
    tools: await packageVersions([...SECURE_BOOT_PACKAGES, 'binutils']),
    code: await hashCode(FIRMWARE_CODE),
  };
  const record = await runLoggedStage(runner, `uki(${parts.recipe.name})`, inputs, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvos-uki-'));
    try {
      await writeFile(join(dir, 'vmlinuz'), await runner.cache.read(parts.vmlinuz, `${parts.recipe.name} kernel`));
      await writeFile(join(dir, 'initrd'), await runner.cache.read(parts.initrd, `${parts.recipe.name} initrd`));
      await buildUki(
        {
          kernel: join(dir, 'vmlinuz'),
          initrd: join(dir, 'initrd'),
          cmdline: parts.cmdline,
          osRelease: osRelease(parts.recipe),
        },
        join(dir, 'unsigned.efi'),
      );
      await signImage(join(dir, 'unsigned.efi'), join(dir, 'signed.efi'), db.key, db.crt, {
        signingTime: parts.sourceDateEpoch,
      });
      return { 'BOOTX64.EFI': await readFile(join(dir, 'signed.efi')) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  return record.outputs['BOOTX64.EFI']!;
}
