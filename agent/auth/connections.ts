// Which connections a listener takes: a cap per source, a total cap for everyone else, and loopback counted apart.
// Loopback is the host's own console and tools: counted apart, it still gets in when remote sources have filled the
// total.
import { isIPv6 } from 'node:net';

// The caps; the HTTP and SSH listeners each have their own limiter.
export interface ConnectionPolicy {
  // Open connections per source (an IPv4 address or an IPv6 /64); never more than maxConnections.
  perSource: number;
  // Open connections from all non-local sources together.
  maxConnections: number;
  // Addresses that are the host itself; other 127.x addresses are ordinary sources (tests use them to stand for other
  // hosts).
  local: string[];
}

// The defaults; each listener states its own perSource and maxConnections.
export const DEFAULT_CONNECTIONS: ConnectionPolicy = { perSource: 8, maxConnections: 64, local: ['127.0.0.1', '::1'] };

// The key a connection is counted under: `local`, an IPv4 address, or an IPv6 /64 (one host may hold a whole /64).
export function sourceOf(address: string | undefined, local: readonly string[] = DEFAULT_CONNECTIONS.local): string {
  if (!address) return 'unknown';
  const plain = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  if (local.includes(plain)) return 'local';
  if (!isIPv6(plain)) return plain;
  const [head = '', tail = ''] = plain.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = plain.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, '').toLowerCase())
    .join(':')}::/64`;
}

// Counts open connections; admit() hands back the release to call when the connection closes.
export class ConnectionLimiter {
  private readonly policy: ConnectionPolicy;
  private readonly open = new Map<string, number>();
  private total = 0;

  constructor(policy: Partial<ConnectionPolicy> = {}) {
    const merged = { ...DEFAULT_CONNECTIONS, ...policy };
    this.policy = { ...merged, perSource: Math.min(merged.perSource, merged.maxConnections) };
  }

  // A release function when the connection may stay, undefined when it must be closed now.
  admit(address: string | undefined): (() => void) | undefined {
    const source = sourceOf(address, this.policy.local);
    const local = source === 'local';
    const count = this.open.get(source) ?? 0;
    if (count >= this.policy.perSource) return undefined;
    if (!local && this.total >= this.policy.maxConnections) return undefined;
    this.open.set(source, count + 1);
    if (!local) this.total += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(source) ?? 1) - 1;
      if (left > 0) this.open.set(source, left);
      else this.open.delete(source);
      if (!local) this.total -= 1;
    };
  }

  // Open connections: from non-local sources, from loopback, and how many sources hold any.
  counts(): { total: number; local: number; sources: number } {
    return { total: this.total, local: this.open.get('local') ?? 0, sources: this.open.size };
  }
}
