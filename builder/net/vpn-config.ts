// Reads a user's VPN provider file (wg-quick .conf or OpenVPN .ovpn) for the router VM that holds the tunnel: what
// the router must know in the clear (servers, addresses, DNS) and the sanitized text it loads, sealed.
import { isIPv4, isIPv6 } from 'node:net';
import { type Problem, sortProblems, UserError } from '../../common/errors.ts';

// Which client the router runs for a network's tunnel.
export type VpnProvider = 'wireguard' | 'openvpn';

// A VPN server the router pins and lets through its kill switch; `peer` is the WireGuard public key it belongs to.
export interface VpnEndpoint {
  host: string;
  port: number;
  proto: 'udp' | 'tcp';
  peer?: string;
}

// A provider file, checked: `text` is what the router loads (`wg setconf` form, or the .ovpn without what it sets).
export interface ParsedVpnConfig {
  provider: VpnProvider;
  endpoints: VpnEndpoint[];
  addresses: string[];
  dns: string[];
  mtu?: number;
  text: string;
}

const MAX_FILE_BYTES = 64 * 1024;
const MAX_LINE_CHARS = 4096;
const MAX_ENDPOINTS = 16;
// OpenVPN reads a config line with fgets into 256 bytes (inline block lines into 255 bytes) and parses whatever is
// past that as a line of its own, so a longer line could hide a directive from this check.
const OVPN_LINE_BYTES = 254;
const OVPN_BLOCK_CHUNK_BYTES = 255;

const IPV6 = 'the gateway drops all IPv6 traffic, so the tunnel runs over IPv4 and carries IPv4 only';
const IPV6_ENTRIES = `${IPV6}: remove the IPv6 entries`;
const IPV6_SERVER = `${IPV6}: use the server's IPv4 address or host name`;
const KEY_EXPECTED = 'expected 44 characters of base64 encoding 32 bytes';

interface Line {
  number: number;
  text: string;
  bad: boolean;
}

class Report {
  readonly problems: Problem[] = [];
  constructor(readonly file: string) {}

  add(line: number, col: number, message: string, hint: string): void {
    this.problems.push({ location: { file: this.file, line, col }, message, hint });
  }

  done(): void {
    if (this.problems.length > 0) this.throwAll();
  }

  throwAll(): never {
    const problems = sortProblems(this.problems);
    const first = problems[0]!;
    const where = `${this.file}:${first.location!.line}:${first.location!.col}`;
    const message =
      problems.length === 1
        ? `${where}: ${first.message}`
        : `${this.file} has ${problems.length} problems, the first at ${where}: ${first.message}`;
    throw new UserError(message, { problems, hint: first.hint });
  }
}

// Parses a provider file; detects the provider from the content unless told. Throws one UserError listing every
// problem found.
export function parseVpnConfig(text: string, file: string, provider?: VpnProvider): ParsedVpnConfig {
  const report = new Report(file);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_FILE_BYTES) {
    report.add(
      1,
      1,
      `the file is ${bytes} bytes: expected at most 65536 (64 KiB)`,
      'a VPN provider file is a few KiB: check that this is the right file',
    );
    report.throwAll();
  }
  const lines = splitLines(text, report);
  const kind = provider ?? detectProvider(lines);
  if (kind === undefined) {
    report.add(
      1,
      1,
      'neither a WireGuard nor an OpenVPN configuration: expected an [Interface] section or OpenVPN directives such as `client` and `remote`',
      'use the .conf (WireGuard) or .ovpn (OpenVPN) file your VPN provider gives you, or name the provider',
    );
    report.throwAll();
  }
  const parsed = kind === 'wireguard' ? parseWireGuard(lines, report) : parseOpenVpn(lines, report);
  report.done();
  return parsed;
}

function splitLines(text: string, report: Report): Line[] {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const raw = body.split('\n');
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  return raw.map((withCr, index) => {
    const number = index + 1;
    const line = withCr.endsWith('\r') ? withCr.slice(0, -1) : withCr;
    let bad = false;
    if (line.length > MAX_LINE_CHARS) {
      report.add(
        number,
        1,
        `the line is ${line.length} characters: expected at most ${MAX_LINE_CHARS}`,
        'a VPN provider file has short lines: check that this is the right file',
      );
      bad = true;
    }
    const control = /[\x00-\x08\x0b-\x1f\x7f]/.exec(line);
    if (control) {
      const code = control[0].charCodeAt(0).toString(16).padStart(2, '0');
      report.add(
        number,
        control.index + 1,
        `control character 0x${code}: expected plain text`,
        'save the file as plain text (UTF-8 or ASCII)',
      );
      bad = true;
    }
    return { number, text: line, bad };
  });
}

function detectProvider(lines: Line[]): VpnProvider | undefined {
  const openvpnWords = new Set([
    'client',
    'tls-client',
    'pull',
    'remote',
    'dev',
    'proto',
    'ca',
    'cert',
    'key',
    'tls-auth',
    'tls-crypt',
    'tls-crypt-v2',
    'pkcs12',
    'auth-user-pass',
  ]);
  let openvpn = false;
  for (const { text, bad } of lines) {
    if (bad) continue;
    const stripped = text.replace(/#.*/, '').trim();
    if (/^\[(interface|peer)\]$/i.test(stripped)) return 'wireguard';
    const word = /^(?:--)?<?([a-z0-9-]+)>?(?:\s|$)/.exec(stripped)?.[1];
    if (word !== undefined && openvpnWords.has(word)) openvpn = true;
  }
  return openvpn ? 'openvpn' : undefined;
}

const KEY_WORD = /^[A-Za-z][A-Za-z ]{0,29}$/;

// Only text shaped like a name goes into a message: a misplaced line may be a private key.
function shown(text: string, shape: RegExp): string {
  return shape.test(text) ? ` ${text}` : '';
}

function isKey(value: string): boolean {
  return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(value);
}

function portNumber(value: string, min = 1): number | undefined {
  if (!/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= min && port <= 65535 ? port : undefined;
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
// The last label starts with a letter so that no name reads as a number to the resolver (`127.1`, `0x7f000001`).
const HOSTNAME = new RegExp(`^(?:${LABEL}\\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$`, 'i');

function hostKind(host: string): 'ipv4' | 'ipv6' | 'name' | undefined {
  if (isIPv4(host)) return 'ipv4';
  if (host.includes(':') || isIPv6(host)) return 'ipv6';
  if (host.length <= 253 && HOSTNAME.test(host)) return 'name';
  return undefined;
}

function listEntries(value: string): string[] {
  return value.split(/[,\s]+/).filter((entry) => entry !== '');
}

const INTERFACE_KEYS: Record<string, string> = Object.fromEntries(
  [
    'PrivateKey',
    'ListenPort',
    'FwMark',
    'Address',
    'DNS',
    'MTU',
    'Table',
    'SaveConfig',
    'PreUp',
    'PostUp',
    'PreDown',
    'PostDown',
  ].map((key) => [key.toLowerCase(), key]),
);
const PEER_KEYS: Record<string, string> = Object.fromEntries(
  ['PublicKey', 'PresharedKey', 'AllowedIPs', 'Endpoint', 'PersistentKeepalive'].map((key) => [key.toLowerCase(), key]),
);
const REPEATABLE = new Set([
  'Address',
  'DNS',
  'AllowedIPs',
  'Table',
  'SaveConfig',
  'PreUp',
  'PostUp',
  'PreDown',
  'PostDown',
]);
const HOOKS = ['PreUp', 'PostUp', 'PreDown', 'PostDown'];

interface Entry {
  value: string;
  line: number;
  col: number;
}

interface Section {
  kind: 'Interface' | 'Peer';
  line: number;
  col: number;
  entries: Map<string, Entry[]>;
}

function readSections(lines: Line[], report: Report): Section[] {
  const sections: Section[] = [];
  let current: Section | undefined;
  let skipping = false;
  for (const { number, text, bad } of lines) {
    if (bad) continue;
    const body = text.replace(/#.*/, '');
    const stripped = body.trim();
    if (stripped === '') continue;
    const col = body.length - body.trimStart().length + 1;
    if (stripped.startsWith('[')) {
      const kind = /^\[interface\]$/i.test(stripped) ? 'Interface' : /^\[peer\]$/i.test(stripped) ? 'Peer' : undefined;
      skipping = kind === undefined;
      if (kind === undefined) {
        report.add(
          number,
          col,
          `unknown section${shown(stripped, /^\[[A-Za-z ]{1,30}\]$/)}: expected [Interface] or [Peer]`,
          'a WireGuard file has one [Interface] section and a [Peer] section for each server',
        );
        continue;
      }
      current = { kind, line: number, col, entries: new Map() };
      sections.push(current);
      continue;
    }
    if (skipping) continue;
    const eq = stripped.indexOf('=');
    if (eq < 0) {
      report.add(
        number,
        col,
        'expected `Key = value` or a section header such as [Peer]',
        'WireGuard files hold `Key = value` lines under [Interface] and [Peer]',
      );
      continue;
    }
    const written = stripped.slice(0, eq).trim();
    const entry = { value: stripped.slice(eq + 1).trim(), line: number, col };
    if (current === undefined) {
      report.add(
        number,
        col,
        `key${shown(written, KEY_WORD)} stands before any section: expected it under [Interface] or [Peer]`,
        'start the file with [Interface]',
      );
      continue;
    }
    const [own, other] = current.kind === 'Interface' ? [INTERFACE_KEYS, PEER_KEYS] : [PEER_KEYS, INTERFACE_KEYS];
    const key = own[written.toLowerCase()];
    if (key === undefined) {
      const elsewhere = other[written.toLowerCase()];
      report.add(
        number,
        col,
        elsewhere
          ? `${elsewhere} belongs under [${current.kind === 'Interface' ? 'Peer' : 'Interface'}], not [${current.kind}]`
          : `unknown key${shown(written, KEY_WORD)} in [${current.kind}]: expected one of ${Object.values(own).join(', ')}`,
        'compare the line with the file your VPN provider gives you',
      );
      continue;
    }
    const list = current.entries.get(key) ?? [];
    if (list.length > 0 && !REPEATABLE.has(key)) {
      report.add(
        number,
        col,
        `${key} appears twice in this [${current.kind}] section: expected it once`,
        `keep one ${key} line`,
      );
      continue;
    }
    list.push(entry);
    current.entries.set(key, list);
  }
  return sections;
}

function one(section: Section, key: string): Entry | undefined {
  return section.entries.get(key)?.[0];
}

function parseWireGuard(lines: Line[], report: Report): ParsedVpnConfig {
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
  const privateKey = one(section, 'PrivateKey');
  if (privateKey === undefined) {
    report.add(
      section.line,
      section.col,
      'the [Interface] has no PrivateKey: expected one',
      "copy the PrivateKey line from your provider's file",
    );
  } else if (!isKey(privateKey.value)) {
    report.add(
      privateKey.line,
      privateKey.col,
      `PrivateKey is not a WireGuard key: ${KEY_EXPECTED}`,
      "copy it again from your provider's file; `wg genkey` makes one",
    );
  } else {
    text.push(`PrivateKey = ${privateKey.value}`);
  }
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
  const publicKey = one(section, 'PublicKey');
  let key: string | undefined;
  if (publicKey === undefined) {
    report.add(
      section.line,
      section.col,
      "the [Peer] has no PublicKey: expected the server's public key",
      "copy the PublicKey line from your provider's file",
    );
  } else if (!isKey(publicKey.value)) {
    report.add(
      publicKey.line,
      publicKey.col,
      `PublicKey is not a WireGuard key: ${KEY_EXPECTED}`,
      "copy it again from your provider's file",
    );
  } else if (keys.has(publicKey.value)) {
    report.add(
      publicKey.line,
      publicKey.col,
      'a second [Peer] with this PublicKey: expected each server once',
      'merge the two [Peer] sections into one',
    );
  } else {
    key = publicKey.value;
    keys.add(key);
    text.push(`PublicKey = ${key}`);
  }
  const psk = one(section, 'PresharedKey');
  if (psk !== undefined) {
    if (!isKey(psk.value))
      report.add(
        psk.line,
        psk.col,
        `PresharedKey is not a WireGuard key: ${KEY_EXPECTED}`,
        "copy it again from your provider's file",
      );
    else text.push(`PresharedKey = ${psk.value}`);
  }
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

const NAME = /^[a-z0-9-]+$/;

// The router sets these itself (tunnel device, servers, routes, DNS, privileges), so they leave the text.
const DROPPED = new Set([
  'remote',
  'dev',
  'dev-type',
  'dev-node',
  'proto',
  'port',
  'rport',
  'lport',
  'redirect-gateway',
  'redirect-private',
  'route',
  'route-ipv6',
  'ifconfig-ipv6',
  'dhcp-option',
  'dns',
  'block-outside-dns',
  'persist-tun',
  'user',
  'group',
  // The router's own pull filters decide which pushed options count; one of the file's would be matched first.
  'pull-filter',
  'route-nopull',
  'route-noexec',
]);

// Options whose argument names a file: on the router only their inline block form can work.
const FILE_OPTIONS = new Set([
  'ca',
  'cert',
  'key',
  'tls-auth',
  'tls-crypt',
  'tls-crypt-v2',
  'pkcs12',
  'extra-certs',
  'crl-verify',
  'dh',
  'auth-user-pass',
  'capath',
]);

interface Refusal {
  message: string;
  hint: string;
}

function refusals(): Map<string, Refusal> {
  const map = new Map<string, Refusal>();
  const add = (names: string[], message: string, hint: string) => {
    for (const name of names) map.set(name, { message: `\`${name}\` ${message}`, hint });
  };
  add(
    [
      'up',
      'down',
      'route-up',
      'route-pre-down',
      'ipchange',
      'learn-address',
      'tls-verify',
      'client-connect',
      'client-disconnect',
      'auth-user-pass-verify',
      'iproute',
      'dns-updown',
    ],
    'runs a program: refused',
    'the gateway runs no scripts: its kill switch is a static firewall and it sets routes and DNS itself; delete this line',
  );
  add(
    ['plugin', 'engine', 'pkcs11-providers'],
    'loads code into OpenVPN: refused',
    'the gateway loads no plugins or engines: delete this line and paste the certificate and key inline',
  );
  add(
    ['script-security'],
    'lets OpenVPN run scripts: refused',
    'the gateway runs no scripts: delete this line (and any up/down lines)',
  );
  add(
    ['setenv', 'setenv-safe'],
    'sets environment variables for scripts: refused',
    'the gateway runs no scripts: delete this line',
  );
  add(
    ['config'],
    'includes another file: refused',
    "the gateway has only this file: paste the included file's lines here instead",
  );
  add(
    [
      'cd',
      'chroot',
      'daemon',
      'inetd',
      'log',
      'log-append',
      'syslog',
      'status',
      'writepid',
      'tmp-dir',
      'replay-persist',
      'tls-export-cert',
    ],
    'is set by the gateway: refused',
    'the gateway runs OpenVPN in its own directory with its own logging: delete this line',
  );
  add(
    ['askpass'],
    'asks for a private key passphrase: refused',
    'the gateway starts unattended: paste an unencrypted key inline (`openssl pkey -in key.pem -out plain.pem`)',
  );
  add(
    ['secret'],
    'selects static-key mode, deprecated in OpenVPN 2.6 and removed in 2.7: refused',
    'ask your provider for a TLS configuration (<ca>, <cert>, <key> or <tls-crypt>)',
  );
  add(['connection'], 'blocks are not supported', 'write one `remote HOST PORT PROTO` line for each server instead');
  add(
    ['server', 'server-bridge', 'server-ipv6', 'tls-server'],
    'makes this a server configuration: expected a client',
    'use the client file your VPN provider gives you (it has `client` and `remote` lines)',
  );
  return map;
}

const REFUSED = refusals();

function refusalOf(name: string, args: string[], inline: boolean): Refusal | undefined {
  const listed = REFUSED.get(name);
  if (listed) return listed;
  if (name.startsWith('management'))
    return {
      message: `\`${name}\` opens a management interface: refused`,
      hint: 'the gateway controls OpenVPN itself: delete this line',
    };
  if (name.startsWith('http-proxy') || name.startsWith('socks-proxy'))
    return {
      message: `\`${name}\` sends the tunnel through a proxy: refused`,
      hint: "the gateway's firewall lets the tunnel reach only the VPN servers themselves: delete this line",
    };
  if (name === 'mode' && args[0] === 'server')
    return {
      message: '`mode server` makes this a server configuration: expected a client',
      hint: 'use the client file your VPN provider gives you (it has `client` and `remote` lines)',
    };
  if ((name === 'dev' && args[0]?.startsWith('tap')) || (name === 'dev-type' && args[0] === 'tap'))
    return {
      message: `\`${name} ${args[0]}\` asks for an Ethernet (tap) tunnel: expected tun`,
      hint: "the gateway runs a routed tun tunnel; VPN providers' client files use `dev tun`",
    };
  if (name === 'providers' && args.some((arg) => arg.includes('/')))
    return {
      message: '`providers` with a path loads code into OpenVPN: refused',
      hint: 'name OpenSSL providers by name only, such as `providers legacy default`',
    };
  if (inline || !FILE_OPTIONS.has(name)) return undefined;
  if (name === 'auth-user-pass' && args.length === 0)
    return {
      message: '`auth-user-pass` without a file asks for the password at a prompt: refused',
      hint: 'the gateway has no prompt: paste the username and password inline, each on its own line, between <auth-user-pass> and </auth-user-pass>, or use certificate auth',
    };
  const block = name === 'capath' ? 'ca' : name;
  const direction = name === 'tls-auth' && args[1] !== undefined ? ` with a \`key-direction ${args[1]}\` line` : '';
  return {
    message: `\`${name}\` reads a file the gateway does not have: expected the contents inline`,
    hint: `paste the file inline as <${block}>…</${block}>${direction}`,
  };
}

// OpenVPN's own tokenizer (options_util.c parse_line), so that what is checked here is what OpenVPN reads.
function tokenize(line: string): string[] | string {
  const tokens: string[] = [];
  let state: 'initial' | 'plain' | 'double' | 'single' = 'initial';
  let backslash = false;
  let token = '';
  for (let i = 0; i <= line.length; i++) {
    const end = i === line.length;
    const c = end ? '' : line[i]!;
    const space = end || /[ \t\n\v\f\r]/.test(c);
    if (!backslash && c === '\\' && state !== 'single') {
      backslash = true;
      continue;
    }
    let out: string | undefined;
    let done = false;
    if (state === 'initial') {
      if (!space) {
        if (c === ';' || c === '#') break;
        if (!backslash && c === '"') state = 'double';
        else if (!backslash && c === "'") state = 'single';
        else {
          out = c;
          state = 'plain';
        }
      }
    } else if (state === 'plain') {
      if (!backslash && space) done = true;
      else out = c;
    } else if (state === 'double') {
      if (!backslash && c === '"') done = true;
      else out = c;
    } else if (c === "'") {
      done = true;
    } else {
      out = c;
    }
    if (done) {
      tokens.push(token);
      token = '';
      state = 'initial';
    }
    if (backslash && out !== undefined && out !== '' && !(out === '\\' || out === '"' || /[ \t\n\v\f\r]/.test(out))) {
      return 'a backslash escapes only \\, " and spaces';
    }
    backslash = false;
    if (out !== undefined && out !== '') token += out;
    if (tokens.length >= 16) break;
  }
  if (state === 'double') return 'a double quote is not closed';
  if (state === 'single') return 'a single quote is not closed';
  if (state !== 'initial') return 'the line ends in a backslash';
  return tokens;
}

interface OpenVpnState {
  remotes: { host: string; port?: number; proto?: 'udp' | 'tcp'; line: number }[];
  remoteCount: number;
  port?: number;
  proto?: 'udp' | 'tcp';
  dns: string[];
  client: boolean;
  pull: boolean;
  tlsClient: boolean;
  server: boolean;
  truncated: boolean;
}

interface Directive {
  name: string;
  args: string[];
  inline: boolean;
  line: number;
  col: number;
}

function parseOpenVpn(lines: Line[], report: Report): ParsedVpnConfig {
  const state: OpenVpnState = {
    remotes: [],
    remoteCount: 0,
    dns: [],
    client: false,
    pull: false,
    tlsClient: false,
    server: false,
    truncated: false,
  };
  const kept: string[] = [];
  let index = 0;
  while (index < lines.length) {
    const { number, text, bad } = lines[index]!;
    index++;
    if (bad) continue;
    const col = text.length - text.trimStart().length + 1;
    if (Buffer.byteLength(text, 'utf8') > OVPN_LINE_BYTES) {
      report.add(
        number,
        col,
        `the line is ${Buffer.byteLength(text, 'utf8')} bytes: expected at most ${OVPN_LINE_BYTES} outside inline blocks`,
        'OpenVPN reads the rest of a longer line as a line of its own: shorten or delete it',
      );
      continue;
    }
    const tokens = tokenize(text);
    if (typeof tokens === 'string') {
      report.add(
        number,
        col,
        `${tokens}: expected OpenVPN quoting`,
        'quote an argument with spaces as "like this", and write a backslash as \\\\',
      );
      continue;
    }
    if (tokens.length === 0) continue;
    let name = tokens[0]!;
    if (name.length >= 3 && name.startsWith('--')) name = name.slice(2);
    if (name.startsWith('</')) {
      report.add(
        number,
        col,
        `${name.slice(0, 40)} closes no block: expected an opening tag before it`,
        'paste the whole block, from its opening tag to its closing tag',
      );
      continue;
    }
    if (tokens.length === 1 && name.length >= 2 && name.startsWith('<') && name.endsWith('>')) {
      const tag = name.slice(1, -1);
      const close = findClose(lines, index, tag, report);
      if (close === undefined) {
        report.add(
          number,
          col,
          `<${tag.slice(0, 40)}> is not closed: expected a </${tag.slice(0, 40)}> line`,
          `paste the whole block, ending with </${tag.slice(0, 40)}> on a line of its own`,
        );
        state.truncated = true;
        break;
      }
      if (checkDirective({ name: tag, args: [], inline: true, line: number, col }, state, report) === 'keep') {
        kept.push(text, ...lines.slice(index, close + 1).map((line) => line.text));
      }
      index = close + 1;
      continue;
    }
    if (checkDirective({ name, args: tokens.slice(1), inline: false, line: number, col }, state, report) === 'keep')
      kept.push(text);
  }
  return finishOpenVpn(state, kept, report);
}

// The line that ends the block opened before `from`, found as OpenVPN finds it: it reads block lines in 255-byte
// pieces and ends at the first piece that starts, after spaces, with the close tag.
function findClose(lines: Line[], from: number, tag: string, report: Report): number | undefined {
  const close = `</${tag}>`;
  for (let index = from; index < lines.length; index++) {
    const line = lines[index]!;
    const bytes = Buffer.from(`${line.text}\n`, 'utf8');
    for (let offset = 0; offset < bytes.length; offset += OVPN_BLOCK_CHUNK_BYTES) {
      const piece = bytes.subarray(offset, offset + OVPN_BLOCK_CHUNK_BYTES).toString('latin1');
      if (!piece.replace(/^[ \t\n\v\f\r]+/, '').startsWith(close)) continue;
      if (offset > 0 || bytes.length > OVPN_BLOCK_CHUNK_BYTES) {
        report.add(
          line.number,
          1,
          `a line of ${bytes.length - 1} bytes holds ${close.slice(0, 40)}: expected the close tag on a short line of its own`,
          'OpenVPN reads long lines in pieces and would read the rest as directives: break the line',
        );
      }
      return index;
    }
  }
  return undefined;
}

function checkDirective(directive: Directive, state: OpenVpnState, report: Report): 'keep' | 'drop' {
  const { name, args, inline, line, col } = directive;
  if (!NAME.test(name)) {
    report.add(
      line,
      col,
      'this line is not an OpenVPN directive: expected a name of lowercase letters, digits and dashes',
      'compare the line with the file your VPN provider gives you',
    );
    return 'drop';
  }
  // `setenv opt X` is X itself, only ignored by an OpenVPN that does not know X.
  if (name === 'setenv' && args[0] === 'opt' && args[1] !== undefined && !inline) {
    return checkDirective({ ...directive, name: args[1], args: args.slice(2) }, state, report);
  }
  const refusal = refusalOf(name, args, inline);
  if (refusal) {
    if (name.startsWith('server') || name === 'tls-server' || name === 'mode') state.server = true;
    report.add(line, col, refusal.message, refusal.hint);
    return 'drop';
  }
  if (inline && (DROPPED.has(name) || name === 'client' || name === 'pull' || name === 'tls-client')) {
    report.add(
      line,
      col,
      `<${name}> is not an inline block: expected a \`${name}\` line`,
      `write \`${name}\` on one line, as OpenVPN reads it`,
    );
    return 'drop';
  }
  if (name === 'client') state.client = true;
  if (name === 'pull') state.pull = true;
  if (name === 'tls-client') state.tlsClient = true;
  if (!DROPPED.has(name)) return 'keep';
  if (name === 'remote') readRemote(directive, state, report);
  else if (name === 'port' || name === 'rport') {
    const port = portNumber(args[0] ?? '');
    if (port === undefined || args.length !== 1)
      report.add(line, col, `\`${name}\`: expected a port number 1-65535`, "copy the line from your provider's file");
    else state.port = port;
  } else if (name === 'proto') {
    const proto = readProto(args[0], directive, report);
    if (proto) state.proto = proto;
  } else if (name === 'dhcp-option' && args[0] === 'DNS' && args[1] !== undefined) {
    if (isIPv4(args[1])) state.dns.push(args[1]);
    else if (!args[1].includes(':'))
      report.add(
        line,
        col,
        `\`dhcp-option DNS ${args[1].slice(0, 40)}\`: expected an IPv4 address`,
        "copy the line from your provider's file",
      );
  } else if (name === 'dns' && args[0] === 'server' && args[2] === 'address') {
    state.dns.push(...args.slice(3).filter((address) => isIPv4(address)));
  }
  return 'drop';
}

function readProto(value: string | undefined, directive: Directive, report: Report): 'udp' | 'tcp' | undefined {
  if (value === 'udp' || value === 'udp4') return 'udp';
  if (value === 'tcp' || value === 'tcp-client' || value === 'tcp4' || value === 'tcp4-client') return 'tcp';
  const [message, hint] =
    value !== undefined && /^(udp|tcp)6/.test(value)
      ? [`protocol ${value} is IPv6: expected udp or tcp`, `${IPV6}: use udp or tcp`]
      : value?.endsWith('-server')
        ? [`protocol ${value} is a server's: expected udp or tcp`, 'use the client file your VPN provider gives you']
        : [
            `protocol ${JSON.stringify((value ?? '').slice(0, 20))}: expected udp or tcp`,
            "copy the line from your provider's file",
          ];
  report.add(directive.line, directive.col, message, hint);
  return undefined;
}

function readRemote(directive: Directive, state: OpenVpnState, report: Report): void {
  const { args, line, col } = directive;
  state.remoteCount++;
  if (state.remoteCount === MAX_ENDPOINTS + 1) {
    report.add(
      line,
      col,
      `more than ${MAX_ENDPOINTS} remote lines: expected at most ${MAX_ENDPOINTS}`,
      `keep the ${MAX_ENDPOINTS} servers you want the gateway to use`,
    );
  }
  const [host, port, proto] = args;
  if (host === undefined || args.length > 3) {
    report.add(line, col, '`remote`: expected HOST [PORT] [PROTO]', "copy the remote lines from your provider's file");
    return;
  }
  const kind = hostKind(host);
  if (kind === 'ipv6') {
    report.add(
      line,
      col,
      `remote ${host.slice(0, 60)} is an IPv6 address: expected an IPv4 address or host name`,
      IPV6_SERVER,
    );
    return;
  }
  if (kind === undefined) {
    report.add(
      line,
      col,
      `remote ${JSON.stringify(host.slice(0, 60))}: expected an IPv4 address or host name`,
      "copy the remote lines from your provider's file",
    );
    return;
  }
  const portValue = port === undefined ? undefined : portNumber(port);
  if (port !== undefined && portValue === undefined) {
    report.add(
      line,
      col,
      `remote port ${JSON.stringify(port.slice(0, 20))}: expected a number 1-65535`,
      "copy the remote lines from your provider's file",
    );
    return;
  }
  const protoValue = proto === undefined ? undefined : readProto(proto, directive, report);
  if (proto !== undefined && protoValue === undefined) return;
  state.remotes.push({ host: kind === 'name' ? host.toLowerCase() : host, port: portValue, proto: protoValue, line });
}

function finishOpenVpn(state: OpenVpnState, kept: string[], report: Report): ParsedVpnConfig {
  // Past an unclosed block OpenVPN reads nothing more, so what is missing there is no news.
  if (state.truncated) return { provider: 'openvpn', endpoints: [], addresses: [], dns: state.dns, text: '' };
  if (state.remoteCount === 0) {
    report.add(
      1,
      1,
      'no `remote` line: expected at least one `remote HOST [PORT] [PROTO]`',
      "copy the remote lines from your provider's file",
    );
  }
  if (!state.server && !state.client && !(state.pull && state.tlsClient)) {
    report.add(
      1,
      1,
      'not a client configuration: expected a `client` line (or `pull` with `tls-client`)',
      'add a `client` line: the gateway connects out to the VPN server',
    );
  }
  const endpoints = state.remotes.slice(0, MAX_ENDPOINTS).map(
    (remote): VpnEndpoint => ({
      host: remote.host,
      port: remote.port ?? state.port ?? 1194,
      proto: remote.proto ?? state.proto ?? 'udp',
    }),
  );
  return { provider: 'openvpn', endpoints, addresses: [], dns: state.dns, text: `${kept.join('\n')}\n` };
}
