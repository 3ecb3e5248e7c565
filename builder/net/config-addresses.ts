// What both VPN parsers check of a server: its host, its port, and that the tunnel stays IPv4.
import { isIPv4, isIPv6 } from 'node:net';

// The most servers one file may give.
export const MAX_ENDPOINTS = 16;

// Why IPv6 is refused, for hints.
export const IPV6 = 'the gateway drops all IPv6 traffic, so the tunnel runs over IPv4 and carries IPv4 only';
// The hint for a server given by an IPv6 address.
export const IPV6_SERVER = `${IPV6}: use the server's IPv4 address or host name`;

// A port number from `min` to 65535, written in decimal; undefined for anything else.
export function portNumber(value: string, min = 1): number | undefined {
  if (!/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= min && port <= 65535 ? port : undefined;
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
// The last label starts with a letter so that no name reads as a number to the resolver (`127.1`, `0x7f000001`).
const HOSTNAME = new RegExp(`^(?:${LABEL}\\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$`, 'i');

// What a server's host is; undefined when it is neither an address nor a host name.
export function hostKind(host: string): 'ipv4' | 'ipv6' | 'name' | undefined {
  if (isIPv4(host)) return 'ipv4';
  if (host.includes(':') || isIPv6(host)) return 'ipv6';
  if (host.length <= 253 && HOSTNAME.test(host)) return 'name';
  return undefined;
}
