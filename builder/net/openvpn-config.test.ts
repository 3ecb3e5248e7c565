// OpenVPN .ovpn files: servers and DNS read out, directives that run or load code refused, lines read as OpenVPN reads them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CA, CREDENTIALS, ovpnFile, PROVIDER_OVPN, problemsOf, refusedAt } from './vpn-config.test-support.ts';
import { parseVpnConfig } from './vpn-config.ts';

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
      ...CREDENTIALS,
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

test.run();
