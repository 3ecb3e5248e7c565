// A VM's NVRAM store from its guest recipe: the preset, the recipe's timeout over the preset's, and for Secure Boot our
// keys.
import type { Recipe } from '../recipe/types.ts';
import type { KeyRole } from './keys.ts';
import { loadPreset, type Preset, presetVariables } from './preset.ts';
import { writeVarstore } from './varstore.ts';

// The firmware part of a recipe.
export type RecipeFirmware = Recipe['firmware'];

// The preset a recipe's firmware asks for, with the recipe's own timeout winning and Secure Boot on for
// ovmf-secureboot.
export function recipePreset(firmware: RecipeFirmware, presetDir?: string): Preset {
  const preset = loadPreset(firmware.preset, presetDir);
  return {
    ...preset,
    ...(firmware.timeout !== undefined ? { timeout: firmware.timeout } : {}),
    ...(firmware.type === 'ovmf-secureboot' ? { secureBoot: true } : {}),
  };
}

// Whether a firmware type keeps its settings in an OVMF varstore (SeaBIOS takes them from QEMU's fw_cfg instead).
export function hasVarstore(type: RecipeFirmware['type']): boolean {
  return type !== 'seabios';
}

// The VM's VARS file: the pinned OVMF VARS template with the preset's variables written in.
export function vmVarstore(
  firmware: RecipeFirmware,
  template: Buffer,
  certs?: Record<KeyRole, Buffer>,
  presetDir?: string,
): Buffer {
  if (!hasVarstore(firmware.type)) throw new Error(`${firmware.type} has no varstore`);
  return writeVarstore(presetVariables(recipePreset(firmware, presetDir), certs), template);
}

// SeaBIOS's boot menu wait in ms from the recipe's timeout in seconds; absent: SeaBIOS's own default.
export function menuWaitMs(firmware: RecipeFirmware): number | undefined {
  return firmware.timeout === undefined ? undefined : firmware.timeout * 1000;
}
