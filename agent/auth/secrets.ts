// The agent's side of sealed one-time-code secrets: the format lives in builder/secrets so the builder can write it
// too.
import { UserError } from '../../common/errors.ts';
import { decryptSecret, readSecretKey } from '../../common/secrets/otp-secret.ts';
import type { AgentUser } from '../config.ts';

// The sealing functions themselves, for callers that only know agent/auth.
export {
  decryptSecret,
  encryptSecret,
  readOrCreateSecretKey,
  readSecretKey,
  SECRET_KEY_BYTES,
} from '../../common/secrets/otp-secret.ts';

// The plain (base32) one-time-code secret of a user, or undefined when the user has none.
export function openUserSecret(key: Buffer, user: AgentUser): string | undefined {
  return user.otp ? decryptSecret(key, user.name, user.otp.secret) : undefined;
}

// The key named by host.json's agent.secretKeyFile, or undefined when no user has a one-time code.
export async function loadSecretKey(file: string | undefined, users: AgentUser[]): Promise<Buffer | undefined> {
  if (!users.some((u) => u.otp)) return undefined;
  if (!file)
    throw new UserError('users have one-time codes but the host config names no agent.secretKeyFile', {
      hint: 'rebuild the image with `mvos build` (it ships /etc/mvos/secret.key)',
    });
  return readSecretKey(file);
}
