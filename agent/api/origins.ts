// Which Host and Origin values name this listener: its configured address (on a wildcard, the address a request came in
// on), localhost on loopback, and the configured names. Never the Host header itself: under DNS rebinding it is the
// attacker's name.
import type { IncomingMessage } from 'node:http';
import { isLoopbackHost } from './loopback.ts';

// The listener as configured: host config agent.apiListen's address and agent.apiNames.
export interface ListenerIdentity {
  host: string;
  names: readonly string[];
  // The port requests name, for a listener whose socket has none (the onion service's unix-socket door).
  port?: number;
}

// A host and port as a URL holds them: lower-case, IPv6 compressed and in brackets, the scheme's default port as ''.
interface Authority {
  hostname: string;
  port: string;
}

function parse(url: string): (Authority & { origin: string; protocol: string }) | undefined {
  try {
    const u = new URL(url);
    return { hostname: u.hostname, port: u.port, origin: u.origin, protocol: u.protocol };
  } catch {
    return undefined;
  }
}

function canonicalHost(host: string): string {
  const bare = host.replace(/^\[|\]$/g, '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  return parse(`http://${bare.includes(':') ? `[${bare}]` : bare}/`)?.hostname ?? bare.toLowerCase();
}

// The host names a request may use: the listener's address, localhost when that is loopback, and the configured names.
export function listenerHosts(identity: ListenerIdentity, localAddress: string | undefined): string[] {
  const wildcard = identity.host === '0.0.0.0' || identity.host === '::';
  const address = wildcard ? (localAddress ?? '') : identity.host;
  const hosts = [canonicalHost(address), ...identity.names.map(canonicalHost)];
  return isLoopbackHost(address.replace(/^::ffff:/i, '')) ? [...hosts, 'localhost'] : hosts;
}

function allowed(
  authority: Authority | undefined,
  req: IncomingMessage,
  identity: ListenerIdentity,
  secure: boolean,
): boolean {
  if (!authority) return false;
  const port = identity.port ?? req.socket.localPort;
  const defaultPort = secure ? 443 : 80;
  const portMatches = authority.port === '' ? port === defaultPort : Number(authority.port) === port;
  return portMatches && listenerHosts(identity, req.socket.localAddress).includes(authority.hostname);
}

// Whether the Host header names this listener (the scheme's default port may be left out, as browsers do).
export function hostAllowed(req: IncomingMessage, identity: ListenerIdentity, secure: boolean): boolean {
  const host = req.headers.host;
  if (!host || /[/?#@\s]/.test(host)) return false;
  return allowed(parse(`${secure ? 'https' : 'http'}://${host}/`), req, identity, secure);
}

// Whether an Origin header is this listener's own origin: the right scheme, one of its hosts, its port.
export function originAllowed(
  origin: string,
  req: IncomingMessage,
  identity: ListenerIdentity,
  secure: boolean,
): boolean {
  const parsed = parse(origin);
  if (!parsed || parsed.origin !== origin.toLowerCase() || parsed.protocol !== (secure ? 'https:' : 'http:'))
    return false;
  return allowed(parsed, req, identity, secure);
}
