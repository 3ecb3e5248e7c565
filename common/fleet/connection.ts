// What every fleet connection (a host's link, an operator's command) asks of NATS besides its credentials: TLS that
// cannot be talked out of, and, for a host that goes out through its router, the way to its brokers.
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { type EgressTarget, egressLocalEndpoint } from '../net/egress-link.ts';

// nats.js options this module sets (a subset of ConnectionOptions, kept here so that common/ does not import it).
export interface FleetConnectOptions {
  servers: string[];
  tls?: Record<string, unknown>;
  ignoreClusterUpdates?: boolean;
}

// Whether a broker URL asks for TLS.
function wantsTls(url: string): boolean {
  return url.startsWith('tls://');
}

// The connection options for `servers`. nats.js takes a tls:// scheme as no more than a hint: with no `tls` option it
// speaks in the clear to a server that offers no TLS (a man in the middle's), so a tls:// broker always gets one, which
// makes the client refuse such a server. `via`: the host's brokers are reached through its router's relays, one
// loopback endpoint each (in the servers' order); each certificate is then checked against its broker's own name, and
// the brokers' gossip of their other addresses is ignored (the host could not reach them).
export function fleetConnectOptions(
  servers: readonly string[],
  options: { caFile?: string; via?: boolean } = {},
): FleetConnectOptions {
  const tls = servers.some(wantsTls);
  if (!options.via)
    return { servers: [...servers], ...(tls ? { tls: options.caFile ? { caFile: options.caFile } : {} } : {}) };
  const names = new Map<string, string>();
  const local = servers.map((url, i) => {
    const { hostname, port } = new URL(url);
    const target: EgressTarget = { host: hostname.toLowerCase(), port: Number(port || 4222) };
    const endpoint = egressLocalEndpoint(i, target);
    names.set(endpoint.address, target.host);
    return `${wantsTls(url) ? 'tls' : 'nats'}://${endpoint.address}:${endpoint.port}`;
  });
  const check = (host: string, cert: PeerCertificate) => checkServerIdentity(names.get(host) ?? host, cert);
  return {
    servers: local,
    ignoreClusterUpdates: true,
    ...(tls ? { tls: { ...(options.caFile ? { caFile: options.caFile } : {}), checkServerIdentity: check } } : {}),
  };
}
