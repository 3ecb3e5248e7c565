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
