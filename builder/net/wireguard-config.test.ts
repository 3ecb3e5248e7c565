// WireGuard .conf files: servers, addresses and DNS read out, the wg setconf text, every value and section checked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { key, PROVIDER_CONF, problemsOf, refusedAt, wgFile } from './vpn-config.test-support.ts';
import { parseVpnConfig } from './vpn-config.ts';

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

test.run();
