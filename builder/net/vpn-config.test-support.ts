// Test support for the VPN provider-file parsers: sample files, and asserting where a problem is reported.
import * as assert from 'uvu/assert';
import { type Problem, UserError } from '../../common/errors.ts';
import { parseVpnConfig, type VpnProvider } from './vpn-config.ts';

// A WireGuard key made of 32 bytes of `n`.
export const key = (n: number) => Buffer.alloc(32, n).toString('base64');

// The problems parsing `text` reports; fails the test when it parses.
export function problemsOf(text: string, provider?: VpnProvider, file = 'vpn.conf'): readonly Problem[] {
  try {
    parseVpnConfig(text, file, provider);
  } catch (error) {
    if (error instanceof UserError) return error.problems;
    throw error;
  }
  assert.unreachable('expected a UserError');
  return [];
}

// Asserts a problem matching `message` at line:col of vpn.conf, with a hint, and hands it back.
export function refusedAt(text: string, line: number, col: number, message: RegExp, provider?: VpnProvider): Problem {
  const problems = problemsOf(text, provider);
  const found = problems.find((p) => p.location?.line === line && p.location.col === col && message.test(p.message));
  assert.ok(found, `expected ${message} at ${line}:${col}, got ${JSON.stringify(problems, null, 1)}`);
  assert.ok(found.hint, 'every problem has a hint');
  assert.is(found.location?.file, 'vpn.conf');
  return found;
}

// Interface extras start at line 4; with none, the [Peer] is line 4 and peer extras start at line 8.
export function wgFile(interfaceExtra: string[] = [], peerExtra: string[] = [], more: string[] = []): string {
  return [
    '[Interface]',
    `PrivateKey = ${key(1)}`,
    'Address = 198.51.100.2/32',
    ...interfaceExtra,
    '[Peer]',
    `PublicKey = ${key(2)}`,
    'AllowedIPs = 0.0.0.0/0',
    'Endpoint = 203.0.113.7:51820',
    ...peerExtra,
    ...more,
  ].join('\n');
}

// The offending line is line 3.
export function ovpnFile(line: string, rest: string[] = []): string {
  return ['client', 'remote 203.0.113.10 1194', line, '<ca>', '-----BEGIN CERTIFICATE-----', '</ca>', ...rest].join(
    '\n',
  );
}

// A WireGuard file as a provider gives it, with the details a router does not need.
export const PROVIDER_CONF = [
  '# Example VPN: server se-1',
  '[Interface]',
  `PrivateKey = ${key(1)}`,
  'Address = 198.51.100.2/32,198.51.100.9',
  '# the search domain is ignored',
  'dns = 198.51.100.53, corp.example.test',
  'MTU = 1380',
  'ListenPort = 51820',
  'Table = off',
  'SaveConfig = false',
  '',
  '[Peer]',
  '# first server',
  `PublicKey = ${key(2)}`,
  `PresharedKey = ${key(4)}`,
  'AllowedIPs = 0.0.0.0/0, ::/0',
  'Endpoint = 203.0.113.7:51820',
  'PersistentKeepalive = 25',
  '',
  '[peer]',
  `  publickey = ${key(3)}  # second server`,
  'AllowedIPs = 0.0.0.0/0',
  'Endpoint = Se-2.Example.Test:443',
  '',
].join('\n');

// OpenVPN inline blocks, as in a provider file.
export const CA = ['<ca>', '-----BEGIN CERTIFICATE-----', 'MIIBszCCAVmgAwIBAgIU', '-----END CERTIFICATE-----', '</ca>'];
const CERT = ['<cert>', '-----BEGIN CERTIFICATE-----', 'MIIBtDCCAVqgAwIBAgIU', '-----END CERTIFICATE-----', '</cert>'];
const KEY = ['<key>', '-----BEGIN PRIVATE KEY-----', 'MIGHAgEAMBMGByqGSM49', '-----END PRIVATE KEY-----', '</key>'];
const TLS_AUTH = [
  '<tls-auth>',
  '#',
  '# 2048 bit OpenVPN static key',
  '#',
  '-----BEGIN OpenVPN Static key V1-----',
  '0123456789abcdef0123456789abcdef',
  '-----END OpenVPN Static key V1-----',
  '</tls-auth>',
];

// The client's credentials as a provider inlines them, the tls-auth key with its direction.
export const CREDENTIALS = [...CA, ...CERT, ...KEY, 'key-direction 1', ...TLS_AUTH];

// An OpenVPN file as a provider gives it, with CRLF line endings.
export const PROVIDER_OVPN = [
  '# Example VPN, exported for se-1',
  'client',
  'dev tun',
  'proto udp',
  'port 1195',
  'remote 203.0.113.10',
  'remote vpn.example.test 443 tcp-client',
  'remote-random',
  'resolv-retry infinite',
  'nobind',
  'persist-key',
  'persist-tun',
  'user nobody',
  'group nogroup',
  ';comp-lzo',
  'remote-cert-tls server',
  'cipher AES-256-GCM',
  'redirect-gateway def1 bypass-dhcp',
  'route 192.0.2.0 255.255.255.0',
  'dhcp-option DNS 198.51.100.53',
  'dhcp-option DOMAIN corp.example.test',
  'block-outside-dns',
  'verb 3',
  ...CREDENTIALS,
  '',
].join('\r\n');
