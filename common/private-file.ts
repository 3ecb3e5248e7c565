// Private files (keys, secrets, the users' store): refused when group or others may read them, with the chmod that
// fixes it.
import { UserError } from './errors.ts';

// Throws when `mode` lets group or others at `file`; `subject` is how the message names it (default: the path).
export function refuseOpenToOthers(file: string, mode: number, subject = file): void {
  if ((mode & 0o077) !== 0)
    throw new UserError(`${subject} is open to group or others (mode ${(mode & 0o777).toString(8)})`, {
      hint: `chmod 600 ${file}`,
    });
}
