// Before any stage runs: every output's host tools are here, or the build stops with the line that installs them.
import { UserError } from '../../common/errors.ts';
import { isMedium, MEDIA } from '../media/formats.ts';
import type { Recipe } from '../recipe/types.ts';
import { installLine, missingPackages, runningAsRoot } from '../tools/doctor.ts';
import { SECURE_BOOT_PACKAGES, signingKey } from './firmware.ts';
import { signsBootMedia } from './media.ts';
import { ROOT_DISK_PACKAGES } from './root-disk.ts';

// The Debian packages the recipe's outputs need: each medium's, the root disk's, and the signing tools for Secure Boot
// media.
export function outputPackages(recipe: Recipe): string[] {
  const outputs = recipe.outputs.flatMap((output) => (isMedium(output) ? MEDIA[output].packages : ROOT_DISK_PACKAGES));
  return [...outputs, ...(signsBootMedia(recipe) ? SECURE_BOOT_PACKAGES : [])];
}

// Throws a UserError naming the missing packages, and for signed media a missing signing key.
export async function checkOutputTools(recipe: Recipe): Promise<void> {
  const missing = await missingPackages(outputPackages(recipe));
  if (signsBootMedia(recipe)) signingKey();
  if (missing.length === 0) return;
  throw new UserError(`the outputs ${recipe.outputs.join(', ')} need packages this host lacks: ${missing.join(', ')}`, {
    hint: `run \`${installLine(missing, runningAsRoot())}\` (or \`./mvos doctor --fix\`)`,
  });
}
