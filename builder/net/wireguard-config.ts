// Checks a wg-quick .conf and gives what the router needs: its servers, addresses and DNS, and the `wg setconf` text.
import { isIPv4, isIPv6 } from 'node:net';
import { hostKind, IPV6, IPV6_SERVER, MAX_ENDPOINTS, portNumber } from './config-addresses.ts';
import type { Line, Report } from './config-problems.ts';
import type { ParsedVpnConfig, VpnEndpoint } from './vpn-config.ts';
import { type Entry, HOOKS, one, readSections, type Section } from './wireguard-sections.ts';

const IPV6_ENTRIES = `${IPV6}: remove the IPv6 entries`;
const KEY_EXPECTED = 'expected 44 characters of base64 encoding 32 bytes';

function isKey(value: string): boolean {
  return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(value);
}

// The entry of key `name` when it holds a WireGuard key; reports a malformed one, and a missing one where `missing`
// gives the message and hint.
function keyOf(
  section: Section,
  name: string,
  hint: string,
  report: Report,
  missing?: [message: string, hint: string],
): Entry | undefined {
  const entry = one(section, name);
  if (entry === undefined) {
    if (missing !== undefined) report.add(section.line, section.col, ...missing);
    return undefined;
  }
  if (isKey(entry.value)) return entry;
  report.add(entry.line, entry.col, `${name} is not a WireGuard key: ${KEY_EXPECTED}`, hint);
  return undefined;
}

function listEntries(value: string): string[] {
  return value.split(/[,\s]+/).filter((entry) => entry !== '');
}

// Parses the lines of a WireGuard file, reporting every problem; the text keeps only what `wg setconf` reads.
export function parseWireGuard(lines: Line[], report: Report): ParsedVpnConfig {
  const sections = readSections(lines, report);
  const interfaces = sections.filter((section) => section.kind === 'Interface');
  const peers = sections.filter((section) => section.kind === 'Peer');
  for (const extra of interfaces.slice(1)) {
    report.add(
      extra.line,
      extra.col,
      'a second [Interface] section: expected exactly one',
      'merge the two [Interface] sections into one',
    );
  }
  const iface = interfaces[0];
  if (iface === undefined) {
    report.add(
      1,
      1,
      'no [Interface] section: expected one holding the PrivateKey and Address',
      'use the whole file your VPN provider gives you',
    );
  }
  const where = iface ?? peers[0];
  if (peers.length === 0) {
    report.add(
      where?.line ?? 1,
      where?.col ?? 1,
      'no [Peer] section: expected one for each VPN server',
      'use the whole file your VPN provider gives you',
    );
  }
  if (peers.length > MAX_ENDPOINTS) {
    const extra = peers[MAX_ENDPOINTS]!;
    report.add(
      extra.line,
      extra.col,
      `${peers.length} [Peer] sections: expected at most ${MAX_ENDPOINTS}`,
      `keep the ${MAX_ENDPOINTS} servers you want the gateway to use`,
    );
  }
  const head = iface ? readInterface(iface, report) : { text: [], addresses: [], dns: [] };
  const endpoints: VpnEndpoint[] = [];
  const text = ['[Interface]', ...head.text];
  const keys = new Set<string>();
  let unreachable = false;
  for (const peer of peers.slice(0, MAX_ENDPOINTS)) {
    const read = readPeer(peer, keys, report);
    unreachable ||= read.missingEndpoint;
    if (read.endpoint) endpoints.push(read.endpoint);
    text.push('', '[Peer]', ...read.text);
  }
  if (peers.length > 0 && endpoints.length === 0 && !unreachable) {
    const first = peers[0]!;
    report.add(
      first.line,
      first.col,
      'no [Peer] has an Endpoint: expected at least one',
      "the gateway is the client and connects out to the server: add the Endpoint line from your provider's file",
    );
  }
  return {
    provider: 'wireguard',
    endpoints,
    addresses: head.addresses,
    dns: head.dns,
    ...(head.mtu !== undefined ? { mtu: head.mtu } : {}),
    text: `${text.join('\n')}\n`,
  };
}

function readInterface(
  section: Section,
  report: Report,
): { text: string[]; addresses: string[]; dns: string[]; mtu?: number } {
  const text: string[] = [];
  const privateKey = keyOf(
    section,
    'PrivateKey',
    "copy it again from your provider's file; `wg genkey` makes one",
    report,
    ['the [Interface] has no PrivateKey: expected one', "copy the PrivateKey line from your provider's file"],
  );
  if (privateKey !== undefined) text.push(`PrivateKey = ${privateKey.value}`);
  const listenPort = one(section, 'ListenPort');
  if (listenPort !== undefined) {
    const port = portNumber(listenPort.value, 0);
    if (port === undefined)
      report.add(
        listenPort.line,
        listenPort.col,
        'ListenPort: expected a port number 0-65535',
        'leave ListenPort out: the gateway is the client',
      );
    else text.push(`ListenPort = ${port}`);
  }
  const fwMark = one(section, 'FwMark');
  if (fwMark !== undefined) {
    const value = fwMark.value.toLowerCase();
    const valid = value === 'off' || (/^(0x[0-9a-f]{1,8}|\d{1,10})$/.test(value) && Number(value) <= 0xffffffff);
    if (!valid)
      report.add(
        fwMark.line,
        fwMark.col,
        'FwMark: expected `off` or a number up to 0xffffffff',
        'leave FwMark out: the gateway routes the tunnel itself',
      );
    else text.push(`FwMark = ${value}`);
  }
  const addresses: string[] = [];
  let addressProblem = false;
  for (const entry of section.entries.get('Address') ?? []) {
    for (const item of listEntries(entry.value)) {
      const [address = '', prefix, ...rest] = item.split('/');
      if (address.includes(':')) {
        report.add(entry.line, entry.col, `Address ${item} is IPv6: expected IPv4 addresses only`, IPV6_ENTRIES);
        addressProblem = true;
      } else if (
        isIPv4(address) &&
        rest.length === 0 &&
        (prefix === undefined || (/^\d{1,2}$/.test(prefix) && Number(prefix) <= 32))
      ) {
        addresses.push(`${address}/${prefix === undefined ? 32 : Number(prefix)}`);
      } else {
        report.add(
          entry.line,
          entry.col,
          `Address ${item.slice(0, 60)}: expected an IPv4 address or CIDR such as 192.0.2.2/32`,
          "copy the Address line from your provider's file",
        );
        addressProblem = true;
      }
    }
  }
  if (addresses.length === 0 && !addressProblem) {
    report.add(
      section.line,
      section.col,
      'the [Interface] has no IPv4 Address: expected the tunnel address the provider gave you',
      "copy the Address line from your provider's file",
    );
  }
  const dns: string[] = [];
  for (const entry of section.entries.get('DNS') ?? []) {
    for (const item of listEntries(entry.value)) {
      // wg-quick's own rule: digits and dots, or anything with a colon, is a server; the rest are search domains.
      if (item.includes(':'))
        report.add(entry.line, entry.col, `DNS ${item} is IPv6: expected IPv4 addresses only`, IPV6_ENTRIES);
      else if (isIPv4(item)) dns.push(item);
      else if (/^[0-9.]+$/.test(item))
        report.add(
          entry.line,
          entry.col,
          `DNS ${item}: expected an IPv4 address`,
          "copy the DNS line from your provider's file",
        );
    }
  }
  let mtu: number | undefined;
  const mtuEntry = one(section, 'MTU');
  if (mtuEntry !== undefined) {
    const value = /^\d{1,5}$/.test(mtuEntry.value) ? Number(mtuEntry.value) : Number.NaN;
    if (value >= 576 && value <= 9000) mtu = value;
    else
      report.add(
        mtuEntry.line,
        mtuEntry.col,
        'MTU: expected a number from 576 to 9000',
        'leave MTU out unless your provider gives one',
      );
  }
  for (const hook of HOOKS) {
    for (const entry of section.entries.get(hook) ?? []) {
      report.add(
        entry.line,
        entry.col,
        `${hook} runs a command: refused`,
        'the gateway runs no hooks; the kill switch is its static firewall: delete this line',
      );
    }
  }
  return { text, addresses, dns, ...(mtu !== undefined ? { mtu } : {}) };
}

function readPeer(
  section: Section,
  keys: Set<string>,
  report: Report,
): { text: string[]; endpoint?: VpnEndpoint; missingEndpoint: boolean } {
  const text: string[] = [];
  const publicKey = keyOf(section, 'PublicKey', "copy it again from your provider's file", report, [
    "the [Peer] has no PublicKey: expected the server's public key",
    "copy the PublicKey line from your provider's file",
  ]);
  let key: string | undefined;
  if (publicKey !== undefined && keys.has(publicKey.value)) {
    report.add(
      publicKey.line,
      publicKey.col,
      'a second [Peer] with this PublicKey: expected each server once',
      'merge the two [Peer] sections into one',
    );
  } else if (publicKey !== undefined) {
    key = publicKey.value;
    keys.add(key);
    text.push(`PublicKey = ${key}`);
  }
  const psk = keyOf(section, 'PresharedKey', "copy it again from your provider's file", report);
  if (psk !== undefined) text.push(`PresharedKey = ${psk.value}`);
  let routes = false;
  for (const entry of section.entries.get('AllowedIPs') ?? []) {
    if (entry.value === '') continue;
    const items = entry.value.split(',').map((item) => item.trim());
    const badItem = items.find((item) => !isAllowedIp(item));
    if (badItem !== undefined) {
      report.add(
        entry.line,
        entry.col,
        `AllowedIPs ${badItem.slice(0, 60) || '(empty entry)'}: expected addresses or CIDRs such as 0.0.0.0/0, separated by commas`,
        "copy the AllowedIPs line from your provider's file",
      );
      continue;
    }
    routes = true;
    text.push(`AllowedIPs = ${entry.value}`);
  }
  const keepalive = one(section, 'PersistentKeepalive');
  if (keepalive !== undefined) {
    const value = keepalive.value.toLowerCase();
    if (value !== 'off' && portNumber(value, 0) === undefined) {
      report.add(
        keepalive.line,
        keepalive.col,
        'PersistentKeepalive: expected `off` or seconds from 0 to 65535',
        'most providers use 25, or leave it out',
      );
    } else {
      text.push(`PersistentKeepalive = ${value === 'off' ? 'off' : Number(value)}`);
    }
  }
  const endpointEntry = one(section, 'Endpoint');
  if (endpointEntry === undefined) {
    if (routes) {
      report.add(
        section.line,
        section.col,
        'this [Peer] has AllowedIPs but no Endpoint: expected host:port',
        "the gateway is the client and reaches only servers whose address it knows: add the Endpoint line from your provider's file, or delete this peer",
      );
    }
    return { text, missingEndpoint: routes };
  }
  const endpoint = parseEndpoint(endpointEntry, report);
  return {
    text,
    missingEndpoint: false,
    ...(endpoint ? { endpoint: { ...endpoint, ...(key ? { peer: key } : {}) } } : {}),
  };
}

function isAllowedIp(item: string): boolean {
  const [address = '', prefix, ...rest] = item.split('/');
  if (rest.length > 0) return false;
  if (isIPv4(address)) return prefix === undefined || (/^\d{1,2}$/.test(prefix) && Number(prefix) <= 32);
  if (isIPv6(address)) return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= 128);
  return false;
}

function parseEndpoint(entry: Entry, report: Report): VpnEndpoint | undefined {
  const colon = entry.value.lastIndexOf(':');
  const host = colon < 0 ? entry.value : entry.value.slice(0, colon);
  const kind = entry.value.startsWith('[') ? 'ipv6' : hostKind(host);
  if (kind === 'ipv6') {
    report.add(
      entry.line,
      entry.col,
      'Endpoint is an IPv6 address: expected an IPv4 address or host name with :port',
      IPV6_SERVER,
    );
    return undefined;
  }
  const port = colon < 0 ? undefined : portNumber(entry.value.slice(colon + 1));
  if (kind === undefined || port === undefined) {
    report.add(
      entry.line,
      entry.col,
      'Endpoint: expected host:port, the host an IPv4 address or name (such as 192.0.2.1:51820)',
      "copy the Endpoint line from your provider's file",
    );
    return undefined;
  }
  return { host: kind === 'name' ? host.toLowerCase() : host, port, proto: 'udp' };
}
