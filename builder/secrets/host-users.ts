// The agent users a host image carries: the recipe's users joined with their sealed secrets and hashes from the key
// folder.
import { UserError } from '../../common/errors.ts';
import type { AgentUser } from '../../common/host-config.ts';
import { readSecretKey } from '../../common/secrets/otp-secret.ts';
import type { AgentUserSpec } from '../recipe/types.ts';
import { readUserStore, storeFiles } from './store.ts';

// Where the image keeps the key that opens the users' one-time-code secrets (root-only, 0400).
export const IMAGE_SECRET_KEY = '/etc/mvos/secret.key';

// One user as host.json's agent.users lists it.
export type HostUser = AgentUser;

// The users for host.json, and the secret key to ship when any of them has a one-time code.
export interface HostUsers {
  users: HostUser[];
  secretKey?: Buffer;
}

// Joins recipe users with the store; a user whose recipe asks for a code or password the store lacks is a UserError.
export async function resolveHostUsers(specs: readonly AgentUserSpec[], keyDir: string): Promise<HostUsers> {
  if (specs.length === 0) return { users: [] };
  const store = await readUserStore(keyDir);
  const problems: string[] = [];
  const hints: string[] = [];
  const seen = new Set<string>();
  const users = specs.map((spec): HostUser => {
    if (seen.has(spec.name)) problems.push(`agent user ${spec.name} is listed twice`);
    seen.add(spec.name);
    const stored = store.users[spec.name] ?? {};
    const user: HostUser = { name: spec.name, authorizedKeys: [...spec.authorizedKeys] };
    if (spec.otp !== 'none') {
      if (!stored.otp) {
        problems.push(`agent user ${spec.name} needs a ${spec.otp} one-time code, but none is enrolled in ${keyDir}`);
        hints.push(`mvos otp enroll ${spec.name} --type ${spec.otp}`);
      } else if (stored.otp.type !== spec.otp) {
        problems.push(
          `agent user ${spec.name} is enrolled for ${stored.otp.type}, but the recipe asks for ${spec.otp}`,
        );
        hints.push(`mvos otp enroll ${spec.name} --type ${spec.otp} --force`);
      } else user.otp = { ...stored.otp };
    }
    if (spec.password) {
      if (stored.passwordHash) user.passwordHash = stored.passwordHash;
      else {
        problems.push(`agent user ${spec.name} needs a password, but none is set in ${keyDir}`);
        hints.push(`mvos user passwd ${spec.name}`);
      }
    }
    return user;
  });
  if (problems.length > 0) {
    throw new UserError(problems.join('; '), {
      hint: `run ${hints.map((h) => `\`${h}\``).join(', ')}, then build again`,
    });
  }
  const secretKey = users.some((u) => u.otp) ? await readSecretKey(storeFiles(keyDir).key) : undefined;
  return { users, ...(secretKey ? { secretKey } : {}) };
}
