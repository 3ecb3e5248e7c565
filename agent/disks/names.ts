// VM names become folder names under the state folder: only names that cannot climb out of it or hide in it pass.
import { ControlError } from '../controls.ts';

const SAFE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

// Refuses (as invalid input) a VM name that is not a plain folder name: no `/`, no `..`, no leading dot, no spaces.
export function assertSafeVmName(name: string): string {
  if (!SAFE.test(name))
    throw new ControlError(
      'invalid',
      `"${name}" is not a usable VM name (lowercase letters, digits, - and _, up to 63)`,
    );
  return name;
}
