import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Problem, UserError } from '../../common/errors.ts';
import { parseVpnConfig, type VpnProvider } from './vpn-config.ts';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');

function problemsOf(text: string, provider?: VpnProvider, file = 'vpn.conf'): readonly Problem[] {
  try {
    parseVpnConfig(text, file, provider);
  } catch (error) {
    if (error instanceof UserError) return error.problems;
    throw error;
  }
  assert.unreachable('expected a UserError');
  return [];
}

function refusedAt(text: string, line: number, col: number, message: RegExp, provider?: VpnProvider): Problem {
  const problems = problemsOf(text, provider);
  const found = problems.find((p) => p.location?.line === line && p.location.col === col && message.test(p.message));
  assert.ok(found, `expected ${message} at ${line}:${col}, got ${JSON.stringify(problems, null, 1)}`);
  assert.ok(found.hint, 'every problem has a hint');
  assert.is(found.location?.file, 'vpn.conf');
  return found;
}

// Interface extras start at line 4; with none, the [Peer] is line 4 and peer extras start at line 8.
function wgFile(interfaceExtra: string[] = [], peerExtra: string[] = [], more: string[] = []): string {
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
function ovpnFile(line: string, rest: string[] = []): string {
  return ['client', 'remote 203.0.113.10 1194', line, '<ca>', '-----BEGIN CERTIFICATE-----', '</ca>', ...rest].join(
    '\n',
  );
}

const PROVIDER_CONF = [
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

const PROVIDER_TEXT = [
  '[Interface]',
  `PrivateKey = ${key(1)}`,
  'ListenPort = 51820',
  '',
  '[Peer]',
  `PublicKey = ${key(2)}`,
  `PresharedKey = ${key(4)}`,
  'AllowedIPs = 0.0.0.0/0, ::/0',
  'PersistentKeepalive = 25',
  '',
  '[Peer]',
  `PublicKey = ${key(3)}`,
  'AllowedIPs = 0.0.0.0/0',
  '',
].join('\n');

test('a wg-quick file gives its servers, addresses, DNS and MTU, and the wg setconf text without endpoints', () => {
  const parsed = parseVpnConfig(PROVIDER_CONF, 'se-1.conf');
  assert.equal(parsed, {
    provider: 'wireguard',
    endpoints: [
      { host: '203.0.113.7', port: 51820, proto: 'udp', peer: key(2) },
      { host: 'se-2.example.test', port: 443, proto: 'udp', peer: key(3) },
    ],
    addresses: ['198.51.100.2/32', '198.51.100.9/32'],
    dns: ['198.51.100.53'],
    mtu: 1380,
    text: PROVIDER_TEXT,
  });
  assert.equal(parseVpnConfig(PROVIDER_CONF.replaceAll('\n', '\r\n'), 'se-1.conf', 'wireguard'), parsed);
  assert.equal(parseVpnConfig(`\uFEFF${PROVIDER_CONF}`, 'se-1.conf'), parsed);
});

test('WireGuard hooks are refused, each at its key', () => {
  const text = wgFile([
    'PreUp = echo a',
    'PostUp = iptables -A OUTPUT -j DROP',
    'PreDown = echo c',
    '  PostDown = echo d',
  ]);
  refusedAt(text, 4, 1, /^PreUp runs a command/);
  refusedAt(text, 5, 1, /^PostUp runs a command/);
  refusedAt(text, 6, 1, /^PreDown runs a command/);
  const found = refusedAt(text, 7, 3, /^PostDown runs a command/);
  assert.match(found.hint ?? '', /the gateway runs no hooks; the kill switch is its static firewall/);
  assert.is(problemsOf(text).length, 4);
});

test('WireGuard IPv6 is refused in Address, DNS and Endpoint; AllowedIPs keep IPv6 ranges', () => {
  refusedAt(wgFile(['Address = 198.51.100.3, 2001:db8::2/128']), 4, 1, /Address 2001:db8::2\/128 is IPv6/);
  const dns = refusedAt(wgFile(['DNS = 198.51.100.53, 2001:db8::53']), 4, 1, /DNS 2001:db8::53 is IPv6/);
  assert.match(dns.hint ?? '', /drops all IPv6/);
  refusedAt(wgFile([], [], ['[Peer]', `PublicKey = ${key(5)}`, 'Endpoint = [2001:db8::1]:51820']), 10, 1, /IPv6/);
  refusedAt(wgFile([], [], ['[Peer]', `PublicKey = ${key(5)}`, 'Endpoint = 2001:db8::1:51820']), 10, 1, /IPv6/);
  const parsed = parseVpnConfig(wgFile([], ['AllowedIPs = ::/0, 2001:db8::/32']), 'vpn.conf');
  assert.ok(parsed.text.includes('AllowedIPs = 0.0.0.0/0\nAllowedIPs = ::/0, 2001:db8::/32\n'));
});

test('WireGuard keys must be base64 of 32 bytes, and key values never appear in messages', () => {
  const secret = 'c2VjcmV0LXNlY3JldC1zZWNyZXQ=';
  const text = wgFile([], [`PresharedKey = ${secret}`]).replace(`PrivateKey = ${key(1)}`, `PrivateKey = ${secret}`);
  refusedAt(text, 2, 1, /^PrivateKey is not a WireGuard key: expected 44 characters/);
  refusedAt(text, 8, 1, /^PresharedKey is not a WireGuard key/);
  const bare = wgFile([key(9)]);
  refusedAt(bare, 4, 1, /^unknown key in \[Interface\]/);
  for (const p of [...problemsOf(text), ...problemsOf(bare)]) {
    assert.not.ok(p.message.includes(secret) || p.message.includes(key(9).slice(0, 20)), p.message);
  }
  refusedAt(wgFile().replace(`PublicKey = ${key(2)}`, 'PublicKey = abc'), 5, 1, /^PublicKey is not a WireGuard key/);
  refusedAt(wgFile().replace(`PrivateKey = ${key(1)}\n`, ''), 1, 1, /no PrivateKey/);
  refusedAt(wgFile().replace(`PublicKey = ${key(2)}\n`, ''), 4, 1, /no PublicKey/);
  refusedAt(wgFile([], [], ['[Peer]', `PublicKey = ${key(2)}`]), 9, 1, /second \[Peer\] with this PublicKey/);
});

test('WireGuard values are checked: MTU, ports, Address, AllowedIPs, Endpoint, keepalive', () => {
  refusedAt(wgFile(['MTU = 100']), 4, 1, /^MTU: expected a number from 576 to 9000/);
  refusedAt(wgFile(['MTU = 9001']), 4, 1, /^MTU/);
  refusedAt(wgFile(['ListenPort = 70000']), 4, 1, /^ListenPort/);
  refusedAt(wgFile(['FwMark = 0x100000000']), 4, 1, /^FwMark/);
  refusedAt(wgFile(['Address = 198.51.100.300/24']), 4, 1, /^Address 198\.51\.100\.300\/24: expected an IPv4/);
  refusedAt(wgFile(['Address = 198.51.100.3/33']), 4, 1, /^Address/);
  refusedAt(wgFile(['DNS = 198.51.100']), 4, 1, /^DNS 198\.51\.100: expected an IPv4 address/);
  refusedAt(wgFile().replace('Address = 198.51.100.2/32\n', ''), 1, 1, /no IPv4 Address/);
  refusedAt(wgFile([], ['AllowedIPs = 0.0.0.0/0 ::/0']), 8, 1, /^AllowedIPs/);
  refusedAt(wgFile().replace('203.0.113.7:51820', '203.0.113.7'), 7, 1, /^Endpoint: expected host:port/);
  refusedAt(wgFile().replace('203.0.113.7:51820', '127.1:51820'), 7, 1, /^Endpoint/);
  refusedAt(wgFile().replace('203.0.113.7:51820', '203.0.113.7:0'), 7, 1, /^Endpoint/);
  refusedAt(wgFile([], ['PersistentKeepalive = soon']), 8, 1, /^PersistentKeepalive/);
  const fine = parseVpnConfig(wgFile(['FwMark = 0xCA6C'], ['PersistentKeepalive = off']), 'vpn.conf');
  assert.ok(fine.text.includes('FwMark = 0xca6c\n') && fine.text.includes('PersistentKeepalive = off\n'));
  assert.is(fine.mtu, undefined);
  assert.not.ok('mtu' in fine);
});

test('WireGuard structure: sections, keys, repeats, endpoints, at most 16 peers', () => {
  refusedAt(`Address = 198.51.100.2\n${wgFile()}`, 1, 1, /^key Address stands before any section/);
  refusedAt(wgFile(['[Wireguard]', 'Foo = 1']), 4, 1, /^unknown section \[Wireguard\]/);
  assert.is(problemsOf(wgFile(['[Wireguard]', 'Foo = 1'])).length, 1, 'keys of an unknown section are skipped');
  refusedAt(wgFile(['Foo = 1']), 4, 1, /^unknown key Foo in \[Interface\]: expected one of PrivateKey/);
  refusedAt(wgFile(['Endpoint = 203.0.113.7:51820']), 4, 1, /^Endpoint belongs under \[Peer\], not \[Interface\]/);
  refusedAt(wgFile(['just words']), 4, 1, /^expected `Key = value`/);
  refusedAt(wgFile(['ListenPort = 1', 'listenport = 2']), 5, 1, /^ListenPort appears twice/);
  refusedAt(wgFile([], [], ['[Interface]']), 8, 1, /second \[Interface\]/);
  refusedAt(wgFile().replace(/\[Peer\][\s\S]*/, ''), 1, 1, /no \[Peer\] section/);
  refusedAt(wgFile().replace('Endpoint = 203.0.113.7:51820', ''), 4, 1, /AllowedIPs but no Endpoint/);
  refusedAt(
    wgFile().replace('Endpoint = 203.0.113.7:51820', '').replace('AllowedIPs = 0.0.0.0/0', ''),
    4,
    1,
    /^no \[Peer\] has an Endpoint: expected at least one/,
  );
  const idle = parseVpnConfig(wgFile([], [], ['[Peer]', `PublicKey = ${key(5)}`]), 'vpn.conf');
  assert.is(idle.endpoints.length, 1, 'a peer without AllowedIPs needs no Endpoint');
  const peers = Array.from({ length: 16 }, (_, i) => [
    '[Peer]',
    `PublicKey = ${key(10 + i)}`,
    'AllowedIPs = 0.0.0.0/0',
    `Endpoint = 203.0.113.${i + 1}:51820`,
  ]).flat();
  const sixteen = parseVpnConfig([...wgFile().split('\n').slice(0, 3), ...peers].join('\n'), 'vpn.conf');
  assert.is(sixteen.endpoints.length, 16);
  refusedAt(wgFile([], [], peers), 68, 1, /^17 \[Peer\] sections: expected at most 16/);
});

test('every problem in the file is reported at once, sorted, in a message naming file:line:col', () => {
  try {
    parseVpnConfig(wgFile(['PostUp = x', 'MTU = 1']), 'home/se.conf');
    assert.unreachable();
  } catch (error) {
    assert.instance(error, UserError);
    const e = error as UserError;
    assert.equal(
      e.problems.map((p) => [p.location?.line, p.location?.col]),
      [
        [4, 1],
        [5, 1],
      ],
    );
    assert.match(e.message, /^home\/se\.conf has 2 problems, the first at home\/se\.conf:4:1: PostUp runs a command/);
    assert.is(e.hint, e.problems[0]?.hint);
    assert.is(e.exitCode, 2);
  }
  try {
    parseVpnConfig(wgFile(['MTU = 1']), 'se.conf');
    assert.unreachable();
  } catch (error) {
    assert.match((error as Error).message, /^se\.conf:4:1: MTU: expected a number from 576 to 9000$/);
  }
});

const CA = ['<ca>', '-----BEGIN CERTIFICATE-----', 'MIIBszCCAVmgAwIBAgIU', '-----END CERTIFICATE-----', '</ca>'];
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

const PROVIDER_OVPN = [
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
  ...CA,
  ...CERT,
  ...KEY,
  'key-direction 1',
  ...TLS_AUTH,
  '',
].join('\r\n');

test('an .ovpn gives its servers and DNS, and keeps every other directive and the inline blocks verbatim', () => {
  const parsed = parseVpnConfig(PROVIDER_OVPN, 'se-1.ovpn');
  assert.equal(parsed.endpoints, [
    { host: '203.0.113.10', port: 1195, proto: 'udp' },
    { host: 'vpn.example.test', port: 443, proto: 'tcp' },
  ]);
  assert.equal(parsed.dns, ['198.51.100.53']);
  assert.equal(parsed.addresses, []);
  assert.is(parsed.provider, 'openvpn');
  assert.not.ok('mtu' in parsed);
  assert.is(
    parsed.text,
    [
      'client',
      'remote-random',
      'resolv-retry infinite',
      'nobind',
      'persist-key',
      'remote-cert-tls server',
      'cipher AES-256-GCM',
      'verb 3',
      ...CA,
      ...CERT,
      ...KEY,
      'key-direction 1',
      ...TLS_AUTH,
      '',
    ].join('\n'),
  );
});

test('OpenVPN remotes: port from port/rport (the last wins) else 1194, proto from the remote, proto, else udp', () => {
  const base = ['client', 'remote 203.0.113.1', 'remote 203.0.113.2 1300 udp4', ...CA];
  assert.equal(parseVpnConfig(base.join('\n'), 'a.ovpn').endpoints, [
    { host: '203.0.113.1', port: 1194, proto: 'udp' },
    { host: '203.0.113.2', port: 1300, proto: 'udp' },
  ]);
  const set = [...base, 'proto tcp4-client', 'port 1195', 'rport 1196'];
  assert.equal(parseVpnConfig(set.join('\n'), 'a.ovpn').endpoints, [
    { host: '203.0.113.1', port: 1196, proto: 'tcp' },
    { host: '203.0.113.2', port: 1300, proto: 'udp' },
  ]);
  const quoted = ['pull', 'tls-client', '--remote "VPN.example.test" 1197 # nearest', ...CA];
  assert.equal(parseVpnConfig(quoted.join('\n'), 'a.ovpn').endpoints, [
    { host: 'vpn.example.test', port: 1197, proto: 'udp' },
  ]);
});

test('OpenVPN directives that run programs, load code or reach outside are refused at their line', () => {
  const refused: [string, RegExp][] = [
    ['up /etc/openvpn/update-resolv-conf', /^`up` runs a program/],
    ['down /etc/openvpn/update-resolv-conf', /^`down` runs a program/],
    ['route-up /bin/x', /^`route-up` runs a program/],
    ['route-pre-down /bin/x', /^`route-pre-down` runs a program/],
    ['ipchange /bin/x', /^`ipchange` runs a program/],
    ['learn-address /bin/x', /^`learn-address` runs a program/],
    ['tls-verify /bin/x', /^`tls-verify` runs a program/],
    ['client-connect /bin/x', /^`client-connect` runs a program/],
    ['client-disconnect /bin/x', /^`client-disconnect` runs a program/],
    ['auth-user-pass-verify /bin/x via-env', /^`auth-user-pass-verify` runs a program/],
    ['iproute /bin/x', /^`iproute` runs a program/],
    ['dns-updown /bin/x', /^`dns-updown` runs a program/],
    ['plugin /usr/lib/openvpn/x.so', /^`plugin` loads code/],
    ['engine dynamic', /^`engine` loads code/],
    ['pkcs11-providers /usr/lib/p11.so', /^`pkcs11-providers` loads code/],
    ['providers /tmp/evil.so', /^`providers` with a path loads code/],
    ['script-security 2', /^`script-security` lets OpenVPN run scripts/],
    ['setenv CLIENT_CERT 0', /^`setenv` sets environment variables/],
    ['setenv-safe FOO 1', /^`setenv-safe` sets environment variables/],
    ['setenv opt up /bin/sh', /^`up` runs a program/],
    ['management 127.0.0.1 7505', /^`management` opens a management interface/],
    ['management-hold', /^`management-hold` opens a management interface/],
    ['http-proxy 192.0.2.1 8080', /^`http-proxy` sends the tunnel through a proxy/],
    ['socks-proxy 192.0.2.1 1080', /^`socks-proxy` sends the tunnel through a proxy/],
    ['config other.conf', /^`config` includes another file/],
    ['cd /etc/openvpn', /^`cd` is set by the gateway/],
    ['chroot /var/empty', /^`chroot` is set by the gateway/],
    ['daemon', /^`daemon` is set by the gateway/],
    ['log /tmp/openvpn.log', /^`log` is set by the gateway/],
    ['log-append /tmp/openvpn.log', /^`log-append` is set by the gateway/],
    ['status /tmp/status', /^`status` is set by the gateway/],
    ['writepid /run/openvpn.pid', /^`writepid` is set by the gateway/],
    ['askpass pass.txt', /^`askpass` asks for a private key passphrase/],
    ['secret static.key', /^`secret` selects static-key mode, deprecated in OpenVPN 2\.6 and removed in 2\.7/],
    ['server 10.8.0.0 255.255.255.0', /^`server` makes this a server configuration/],
    ['mode server', /^`mode server` makes this a server configuration/],
    ['tls-server', /^`tls-server` makes this a server configuration/],
    ['ca ca.crt', /^`ca` reads a file the gateway does not have/],
    ['cert client.crt', /^`cert` reads a file/],
    ['key client.key', /^`key` reads a file/],
    ['tls-auth ta.key 1', /^`tls-auth` reads a file/],
    ['tls-crypt tc.key', /^`tls-crypt` reads a file/],
    ['tls-crypt-v2 tc2.key', /^`tls-crypt-v2` reads a file/],
    ['pkcs12 client.p12', /^`pkcs12` reads a file/],
    ['auth-user-pass creds.txt', /^`auth-user-pass` reads a file/],
    ['auth-user-pass', /^`auth-user-pass` without a file asks for the password at a prompt/],
    ['dev tap', /^`dev tap` asks for an Ethernet \(tap\) tunnel/],
    ['proto udp6', /^protocol udp6 is IPv6/],
    ['proto tcp-server', /^protocol tcp-server is a server's/],
    ['remote 2001:db8::1 1194', /^remote 2001:db8::1 is an IPv6 address/],
    ['remote 203.0.113.11 1194 tcp6-client', /^protocol tcp6-client is IPv6/],
    ['remote 203.0.113.11 70000', /^remote port "70000": expected a number 1-65535/],
    ['remote 203.0.113.11 1194 udp extra', /^`remote`: expected HOST \[PORT\] \[PROTO\]/],
    ['dhcp-option DNS resolver', /^`dhcp-option DNS resolver`: expected an IPv4 address/],
    ['Remote 203.0.113.11', /^this line is not an OpenVPN directive/],
    ['remote "203.0.113.11', /^a double quote is not closed/],
    ['</ca>', /^<\/ca> closes no block/],
  ];
  for (const [line, message] of refused) refusedAt(ovpnFile(line), 3, 1, message);
  refusedAt(ovpnFile('   up /bin/x'), 3, 4, /^`up` runs a program/);
  const path = refusedAt(ovpnFile('tls-auth ta.key 1'), 3, 1, /tls-auth/);
  assert.is(path.hint, 'paste the file inline as <tls-auth>…</tls-auth> with a `key-direction 1` line');
  refusedAt(
    ovpnFile('<connection>', ['remote 203.0.113.12', '</connection>']),
    3,
    1,
    /^`connection` blocks are not supported/,
  );
  refusedAt(ovpnFile('<secret>', ['0123', '</secret>']), 3, 1, /^`secret` selects static-key mode/);
});

test('OpenVPN inline <auth-user-pass> is kept; `setenv opt` lines follow the rules of what they wrap', () => {
  const text = [
    'client',
    'remote 203.0.113.10',
    '<auth-user-pass>',
    'user',
    'pass',
    '</auth-user-pass>',
    'setenv opt block-outside-dns',
    ...CA,
  ];
  assert.is(
    parseVpnConfig(text.join('\n'), 'a.ovpn').text,
    ['client', '<auth-user-pass>', 'user', 'pass', '</auth-user-pass>', ...CA, ''].join('\n'),
  );
  const dns = parseVpnConfig(ovpnFile('dns server 0 address 198.51.100.54 2001:db8::53'), 'a.ovpn');
  assert.equal(dns.dns, ['198.51.100.54']);
  assert.not.ok(dns.text.includes('dns server'));
});

test('OpenVPN: an unclosed block is one problem at its opening line', () => {
  const text = [
    'client',
    'remote 203.0.113.10',
    ...CA,
    '<key>',
    '-----BEGIN PRIVATE KEY-----',
    'MIGHAgEAMBMGByqGSM49',
  ].join('\n');
  const problems = problemsOf(text);
  assert.is(problems.length, 1);
  refusedAt(text, 8, 1, /^<key> is not closed: expected a <\/key> line/);
});

test('OpenVPN: must be a client with a remote, at most 16 remotes', () => {
  refusedAt(['client', ...CA].join('\n'), 1, 1, /^no `remote` line/);
  refusedAt(['remote 203.0.113.10', 'pull', ...CA].join('\n'), 1, 1, /^not a client configuration/);
  const remotes = Array.from({ length: 17 }, (_, i) => `remote 203.0.113.${i + 1}`);
  refusedAt(['client', ...remotes, ...CA].join('\n'), 18, 1, /^more than 16 remote lines/);
  assert.is(parseVpnConfig(['client', ...remotes.slice(0, 16), ...CA].join('\n'), 'a.ovpn').endpoints.length, 16);
});

test('OpenVPN: lines OpenVPN would split are refused, so nothing hides past its 256-byte line buffer', () => {
  refusedAt(ovpnFile(`# ${'x'.repeat(300)} up /bin/sh`), 3, 1, /^the line is 313 bytes: expected at most 254/);
  assert.ok(parseVpnConfig(ovpnFile(`# ${'x'.repeat(252)}`), 'a.ovpn'));
  const longPem = ['client', 'remote 203.0.113.10', '<key>', `${'A'.repeat(255)}</key>`, 'up /bin/sh', '</key>'];
  refusedAt(longPem.join('\n'), 4, 1, /^a line of 261 bytes holds <\/key>/);
  const oneLineP12 = ['client', 'remote 203.0.113.10', '<pkcs12>', 'M'.repeat(3000), '</pkcs12>'];
  assert.ok(parseVpnConfig(oneLineP12.join('\n'), 'a.ovpn').text.includes('M'.repeat(3000)));
});

test('input bounds: 64 KiB per file, 4096 characters per line, no control characters', () => {
  const big = `${wgFile()}\n${'#'.repeat(100)}\n`.repeat(700);
  const oversize = refusedAt(big, 1, 1, /^the file is \d+ bytes: expected at most 65536/);
  assert.ok(oversize);
  refusedAt(wgFile([`# ${'x'.repeat(4100)}`]), 4, 1, /^the line is 4102 characters: expected at most 4096/);
  refusedAt(wgFile(['MTU = 1420\u0000']), 4, 11, /^control character 0x00/);
});

test('the provider comes from the content unless given; unknown content is refused', () => {
  assert.is(parseVpnConfig(PROVIDER_CONF, 'a').provider, 'wireguard');
  assert.is(parseVpnConfig(PROVIDER_OVPN, 'a').provider, 'openvpn');
  assert.is(parseVpnConfig(['remote 203.0.113.1', 'client', ...CA].join('\n'), 'a').provider, 'openvpn');
  refusedAt('hello = world\n', 1, 1, /^neither a WireGuard nor an OpenVPN configuration/);
  refusedAt('', 1, 1, /^neither a WireGuard nor an OpenVPN/);
  refusedAt(PROVIDER_OVPN, 2, 1, /^expected `Key = value`/, 'wireguard');
  refusedAt(PROVIDER_CONF, 2, 1, /^this line is not an OpenVPN directive/, 'openvpn');
});

test.run();
