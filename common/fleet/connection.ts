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

// A broker URL's host (lower case, without an IPv6 address's brackets) and port (NATS's 4222 when it names none): what
// a router relays to, and what the agent and host.json's check compare.
export function brokerTarget(url: string): EgressTarget {
  const { hostname, port } = new URL(url);
  return { host: hostname.toLowerCase().replace(/^\[|\]$/g, ''), port: Number(port || 4222) };
}

// Whether a broker URL asks for TLS.
function wantsTls(url: string): boolean {
  return url.startsWith('tls://');
}

// The connection options for `servers`. nats.js takes a tls:// scheme as no more than a hint: with no `tls` option it
// speaks in the clear to a server that offers no TLS (a man in the middle's), so a tls:// broker always gets one, which
// makes the client refuse such a server. The certificate must name one of the brokers (by the name or address the
// recipe gave): nats.js upgrades its socket without telling TLS which server it dialled, so Node would check an
// address-only broker against "localhost", and through a router every broker is a loopback address. `via`: the
// brokers are reached through the router's relays, one loopback endpoint each (in the servers' order), and their
// gossip of other addresses is ignored (the host could not reach them).
export function fleetConnectOptions(
  servers: readonly string[],
  options: { caFile?: string; via?: boolean } = {},
): FleetConnectOptions {
  const targets = servers.map(brokerTarget);
  const names = targets.map((t) => t.host);
  const check = (_host: string, cert: PeerCertificate): Error | undefined => {
    let refusal: Error | undefined;
    for (const name of names) {
      refusal = checkServerIdentity(name, cert);
      if (!refusal) return undefined;
    }
    return refusal;
  };
  const tls = servers.some(wantsTls)
    ? { tls: { ...(options.caFile ? { caFile: options.caFile } : {}), checkServerIdentity: check } }
    : {};
  if (!options.via) return { servers: [...servers], ...tls };
  const local = servers.map((url, i) => {
    const endpoint = egressLocalEndpoint(i, targets[i]!);
    return `${wantsTls(url) ? 'tls' : 'nats'}://${endpoint.address}:${endpoint.port}`;
  });
  return { servers: local, ignoreClusterUpdates: true, ...tls };
}
