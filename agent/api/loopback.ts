// Loopback addresses: the only ones no other machine can reach, so the only ones plain HTTP may listen on by default.
import { isIP } from 'node:net';

// 127.0.0.0/8, ::1 and 127.x mapped into IPv6 (how a dual-stack socket reports an IPv4 peer).
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) !== 6) return false;
  return /^(0{0,4}:){2,7}0{0,3}1$/.test(bare) || /^(0{0,4}:){1,5}ffff:127\./.test(bare);
}

// The same for a listen address with its port: `127.0.0.1:8443`, `[::1]:8443`.
export function isLoopbackListen(address: string): boolean {
  const text = address.trim();
  const host = text.startsWith('[') ? text.slice(1, text.indexOf(']')) : text.slice(0, text.lastIndexOf(':'));
  return isLoopbackHost(host);
}
