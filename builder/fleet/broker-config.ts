// What the NATS broker needs to know of the fleet: every host's and operator's public nkey with its permissions, as an
// authorization block that a nats-server configuration includes. The server's config format takes JSON.
import { type FleetPermissions, hostPermissions, operatorPermissions } from '../../common/fleet/subjects.ts';
import type { FleetIdentity } from './identities.ts';

// One user as the authorization block lists it.
interface BrokerUser {
  nkey: string;
  permissions: FleetPermissions;
}

// The users of the fleet's broker.
export function brokerUsers(identities: readonly FleetIdentity[]): BrokerUser[] {
  return identities.map((id) => ({
    nkey: id.publicKey,
    permissions: id.kind === 'host' ? hostPermissions(id.name) : operatorPermissions(id.name),
  }));
}

// The file to include in nats-server.conf (`include mvos-fleet-auth.conf`), one user a line so a diff shows who changed.
export function brokerAuthorization(identities: readonly FleetIdentity[]): string {
  const users = brokerUsers(identities).map(
    (user, i) =>
      `    ${JSON.stringify(user)}${i < identities.length - 1 ? ',' : ''} # ${identities[i]!.kind} ${identities[i]!.name}`,
  );
  return [
    '# The Multiverse fleet: made by `mvos fleet broker-config`; every host and operator.',
    'authorization {',
    '  users = [',
    ...users,
    '  ]',
    '}',
    '',
  ].join('\n');
}
