// A router's plan for tests: network `lan` (198.51.100.0/24) with three VMs — web (a port forward, a denied port, a rule
// by DNS name), worker (allowed to reach web's port 8080), db (nothing but the defaults) — and `lab` (outbound deny).
import type { NetworksConfig } from '../host-config.ts';

// The plan the golden files are compiled from.
export const TEST_NETWORKS: NetworksConfig = {
  routers: [
    {
      vm: 'router',
      uplink: { tap: { name: 'mvup0', netns: 'mvinet' }, mac: '02:00:00:00:00:01', ipv4: 'dhcp' },
    },
  ],
  networks: [
    {
      name: 'lab',
      router: 'router',
      subnet: '203.0.113.64/26',
      gateway: '203.0.113.65',
      prefix: 26,
      dhcp: true,
      dns: false,
      outbound: 'deny',
    },
    {
      name: 'lan',
      router: 'router',
      subnet: '198.51.100.0/24',
      gateway: '198.51.100.1',
      prefix: 24,
      dhcp: true,
      dns: true,
      outbound: 'allow',
    },
  ],
  links: [
    {
      vm: 'probe',
      network: 'lab',
      ifname: 'vl0',
      address: '203.0.113.66',
      mac: '02:00:00:00:01:01',
      routerMac: '02:00:00:00:01:02',
      rules: [{ action: 'allow', proto: 'tcp', to: { cidr: '192.0.2.0/24' }, ports: [443, 443] }],
      forwards: [],
    },
    {
      vm: 'web',
      network: 'lan',
      ifname: 'vl1',
      address: '198.51.100.2',
      mac: '02:00:00:00:02:01',
      routerMac: '02:00:00:00:02:02',
      rules: [
        { action: 'deny', proto: 'tcp', ports: [8081, 8081] },
        { action: 'allow', proto: 'tcp', to: { name: 'www.example.test' }, ports: [80, 80] },
        { action: 'deny', proto: 'udp', to: { cidr: '192.0.2.53' }, ports: [5000, 5999] },
      ],
      forwards: [{ proto: 'tcp', port: 8080, to: 80 }],
    },
    {
      vm: 'worker',
      network: 'lan',
      ifname: 'vl2',
      address: '198.51.100.3',
      mac: '02:00:00:00:03:01',
      routerMac: '02:00:00:00:03:02',
      rules: [{ action: 'allow', proto: 'tcp', to: { vm: 'web' }, ports: [80, 80] }],
      forwards: [],
    },
    {
      vm: 'db',
      network: 'lan',
      ifname: 'vl3',
      address: '198.51.100.4',
      mac: '02:00:00:00:04:01',
      routerMac: '02:00:00:00:04:02',
      rules: [],
      forwards: [],
    },
  ],
};

const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');

// A router that holds a WireGuard tunnel for `private` (two peers, one endpoint by name) beside the plain `lan`.
export const TEST_WIREGUARD: NetworksConfig = {
  routers: [{ vm: 'gw', uplink: { tap: { name: 'mvvpn0' }, mac: '02:00:00:00:00:11', ipv4: 'dhcp' } }],
  networks: [
    {
      name: 'lan',
      router: 'gw',
      subnet: '198.51.100.0/26',
      gateway: '198.51.100.1',
      prefix: 26,
      dhcp: true,
      dns: true,
      outbound: 'allow',
    },
    {
      name: 'private',
      router: 'gw',
      subnet: '203.0.113.0/26',
      gateway: '203.0.113.1',
      prefix: 26,
      dhcp: true,
      dns: true,
      outbound: 'allow',
      vpn: {
        provider: 'wireguard',
        ifname: 'vpn0',
        table: 100,
        endpoints: [
          { host: '198.51.100.200', port: 51820, proto: 'udp', peer: KEY_A },
          { host: 'vpn.example.test', port: 51820, proto: 'udp', peer: KEY_B },
        ],
        addresses: ['198.51.100.130/32'],
        dns: ['198.51.100.53'],
        mtu: 1420,
        check: 'http://203.0.113.80/ip',
        sealed: 'v1:AAAA:AAAA:AAAA',
      },
    },
  ],
  links: [
    {
      vm: 'outside',
      network: 'lan',
      ifname: 'vl0',
      address: '198.51.100.2',
      mac: '02:00:00:00:05:01',
      routerMac: '02:00:00:00:05:02',
      rules: [],
      forwards: [{ proto: 'tcp', port: 8080, to: 80 }],
    },
    {
      vm: 'inside',
      network: 'private',
      ifname: 'vl1',
      address: '203.0.113.2',
      mac: '02:00:00:00:06:01',
      routerMac: '02:00:00:00:06:02',
      rules: [
        { action: 'deny', proto: 'tcp', ports: [25, 25] },
        { action: 'allow', proto: 'tcp', to: { vm: 'outside' }, ports: [80, 80] },
      ],
      forwards: [],
    },
  ],
};

// A router that holds only an OpenVPN tunnel (two endpoints, udp and tcp), for a network without DHCP or DNS.
export const TEST_OPENVPN: NetworksConfig = {
  routers: [
    {
      vm: 'gw',
      uplink: {
        pci: ['0000:03:00.0'],
        mac: '02:00:00:00:00:21',
        ipv4: { address: '192.0.2.2/24', gateway: '192.0.2.1', dns: ['192.0.2.1'] },
      },
    },
  ],
  networks: [
    {
      name: 'hidden',
      router: 'gw',
      subnet: '203.0.113.64/26',
      gateway: '203.0.113.65',
      prefix: 26,
      dhcp: false,
      dns: false,
      outbound: 'allow',
      vpn: {
        provider: 'openvpn',
        ifname: 'vpn0',
        table: 100,
        endpoints: [
          { host: '198.51.100.2', port: 1194, proto: 'udp' },
          { host: '198.51.100.3', port: 443, proto: 'tcp' },
        ],
        addresses: [],
        dns: [],
        sealed: 'v1:AAAA:AAAA:AAAA',
      },
    },
  ],
  links: [
    {
      vm: 'vault',
      network: 'hidden',
      ifname: 'vl0',
      address: '203.0.113.66',
      mac: '02:00:00:00:07:01',
      routerMac: '02:00:00:00:07:02',
      rules: [],
      forwards: [],
    },
  ],
};

// A Tor gateway chained behind another router (its uplink is its link on `lan`), serving `onion` with two VMs, on a
// private Tor network.
export const TEST_TOR: NetworksConfig = {
  routers: [
    { vm: 'router', uplink: { tap: { name: 'mvtor0' }, mac: '02:00:00:00:00:31', ipv4: 'dhcp' } },
    {
      vm: 'torgw',
      uplink: { network: 'lan', mac: '02:00:00:00:08:01', ipv4: 'dhcp' },
      onion: { mac: '02:00:00:00:0a:01' },
    },
  ],
  networks: [
    {
      name: 'lan',
      router: 'router',
      subnet: '198.51.100.0/28',
      gateway: '198.51.100.1',
      prefix: 28,
      dhcp: true,
      dns: true,
      outbound: 'allow',
    },
    {
      name: 'onion',
      router: 'torgw',
      subnet: '198.51.100.16/28',
      gateway: '198.51.100.17',
      prefix: 28,
      dhcp: true,
      dns: true,
      outbound: 'allow',
      tor: {
        transPort: 9040,
        dnsPort: 5353,
        testingAuthorities: [
          `auth0 orport=5000 no-v2 v3ident=${'A'.repeat(40)} 203.0.113.11:7000 ${'B'.repeat(40)}`,
          `auth1 orport=5000 no-v2 v3ident=${'C'.repeat(40)} 203.0.113.12:7000 ${'D'.repeat(40)}`,
        ],
      },
    },
  ],
  links: [
    {
      vm: 'torgw',
      network: 'lan',
      ifname: 'vl0',
      address: '198.51.100.2',
      mac: '02:00:00:00:08:01',
      routerMac: '02:00:00:00:08:02',
      rules: [],
      forwards: [],
    },
    {
      vm: 'anon',
      network: 'onion',
      ifname: 'vl0',
      address: '198.51.100.18',
      mac: '02:00:00:00:09:01',
      routerMac: '02:00:00:00:09:02',
      rules: [],
      forwards: [],
    },
    {
      vm: 'anon2',
      network: 'onion',
      ifname: 'vl1',
      address: '198.51.100.19',
      mac: '02:00:00:00:0a:01',
      routerMac: '02:00:00:00:0a:02',
      rules: [],
      forwards: [],
    },
  ],
};
