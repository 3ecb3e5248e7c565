// The contract of /etc/mvos/host.json: the shape the builder writes (HostConfigFile) and the checked one the agent runs
// on (HostConfig).
import type { EgressTarget } from './net/egress-link.ts';

// How the agent knows a VM is up: a marker line within a deadline.
export interface VmHealth {
  deadlineSeconds: number;
  marker: string;
  // How long QEMU may leave a QMP query-status unanswered before the VM counts as hung.
  hangSeconds: number;
  // How long the guest's heartbeat may be silent, once it began, before the guest counts as hung.
  heartbeatSeconds: number;
}

// One VM the host runs, with everything the agent needs to launch it.
export interface VmConfig {
  name: string;
  role: 'controller' | 'rescue' | 'application' | 'utility';
  launch: 'vm' | 'novm' | 'container';
  cpus: number;
  memoryMiB: number;
  pin?: number[];
  autostart: boolean;
  ephemeral: boolean;
  kernel: string;
  initrd: string;
  cmdline: string;
  firmware: VmFirmware;
  // The immutable base disk (EROFS of the guest's root) the VM's qcow2 overlay grows from; absent: no disk.
  disk?: string;
  health: VmHealth;
  // The VM started instead when this one fails.
  fallback?: string;
  // More than `attempts` failures within `windowSeconds` fall back (or, without a fallback, stop restarting).
  restart: { attempts: number; backoffSeconds: number; windowSeconds: number };
  // Hugepage backing for the VM's memory: auto when the VM's NUMA node has enough free.
  hugepages: 'auto' | 'on' | 'off';
}

// The firmware a VM starts with: its type, and the files the builder shipped beside the guest image (code and vars
// template).
export interface VmFirmware {
  // none: direct kernel boot without firmware (novm, container).
  type: 'ovmf' | 'ovmf-secureboot' | 'seabios' | 'none';
  code?: string;
  vars?: string;
  bootOrder?: string[];
  menuWaitMs?: number;
}

// One person who may control the host: password (HTTP), SSH keys, and a one-time-code secret (encrypted; opaque here).
export interface AgentUser {
  name: string;
  passwordHash?: string;
  authorizedKeys: string[];
  otp?: { type: 'totp' | 'hotp'; secret: string };
}

// How the TCP API speaks TLS: the image's certificate and key (from the build's key folder), or one the agent makes on
// first start.
export type ApiTlsConfig = { source: 'key-folder'; certFile: string; keyFile: string } | { source: 'self-signed' };

// Where the agent listens besides its unix socket (off unless named).
export interface AgentListen {
  apiListen?: string;
  apiTls?: ApiTlsConfig;
  // Plain HTTP off loopback: only when the recipe said `insecure: true`.
  apiInsecure?: boolean;
  // DNS names the API is reached by: accepted as Host and Origin, and in a self-signed certificate.
  apiNames?: string[];
  sshListen?: string;
  users: AgentUser[];
  // The key that decrypts the users' one-time-code secrets (a file outside host.json, root-only).
  secretKeyFile?: string;
  // The fleet: the broker's URLs, this host's id there, and its nkey seed (a file outside host.json, root-only).
  fleet?: FleetConfig;
}

// How the agent reaches its fleet's broker.
export interface FleetConfig {
  servers: string[];
  host: string;
  seedFile: string;
  // How often the status is put when nothing changed.
  intervalSeconds: number;
  // The CA that signed the brokers' certificates (tls:// brokers; absent: the system's CAs).
  caFile?: string;
  // The router VM whose uplink the connections go out through (its `egress`, one destination per server, in order);
  // absent: the agent connects itself (a host with a network of its own, tests).
  via?: string;
}

// The whole host config as the agent holds it once checked; fields the agent does not know are kept out, never refused.
export interface HostConfig {
  name: string;
  version: string;
  vms: VmConfig[];
  agent: AgentListen;
  stateLabel: string;
  // CPUs the host keeps for itself (the agent, QEMU's I/O); VMs are pinned elsewhere.
  housekeeping: number[];
  // The kernel and init container workloads boot (absent: this host cannot run containers).
  containers?: { kernel: string; initrd: string };
  // The host's networks (absent: no VM has a network).
  networks?: NetworksConfig;
  // Signed A/B updates (absent: this host takes no bundles).
  update?: UpdateConfig;
}

// What a host's updates trust and how a new version proves itself.
export interface UpdateConfig {
  // The update key's minisign public key line (RW…): bundles must carry its signature.
  publicKey: string;
  // Seconds a new version has from its kernel's start to pass the health gate.
  deadline: number;
  // The VMs that must be ready for the gate to pass (the agent being up is always required).
  require: string[];
}

// One rule of a VM's outgoing traffic through its router; the first rule that matches decides.
export interface NetRule {
  action: 'allow' | 'deny';
  proto: 'tcp' | 'udp' | 'icmp' | 'any';
  // Where to: an IPv4 address or CIDR, a DNS name (the addresses the router's DNS answered for it), or a VM of the host.
  to?: { cidr: string } | { name: string } | { vm: string };
  // An inclusive port range (tcp and udp only).
  ports?: [number, number];
}

// A port of the router's uplink forwarded to a VM.
export interface NetForward {
  proto: 'tcp' | 'udp';
  port: number;
  to: number;
}

// One VM's point-to-point link to its router on one network: addresses, MACs and the VM's rules.
export interface NetLink {
  vm: string;
  network: string;
  // The link's interface name inside the router.
  ifname: string;
  address: string;
  mac: string;
  routerMac: string;
  rules: NetRule[];
  forwards: NetForward[];
}

// A network: its router, subnet (the router is the first address), DHCP and DNS, and what a VM may do by default.
export interface NetworkConfig {
  name: string;
  router: string;
  subnet: string;
  gateway: string;
  prefix: number;
  dhcp: boolean;
  dns: boolean;
  outbound: 'allow' | 'deny';
  // The tunnel that is this network's only way out (absent: the uplink, through the router's NAT).
  vpn?: NetVpn;
  // Tor is this network's only way out: its TCP goes to the router's Tor (TransPort), its DNS to Tor's DNSPort.
  tor?: NetTor;
}

// A Tor network's ports in its router, and for a private Tor network (tests) the directory authorities to trust.
export interface NetTor {
  transPort: number;
  dnsPort: number;
  // `DirAuthority` lines (without the keyword) of a private Tor network run with TestingTorNetwork; absent: the real
  // Tor network.
  testingAuthorities?: string[];
}

// Where a tunnel's own packets go: an IPv4 address, or a DNS name the router resolves once at boot and pins.
export interface VpnEndpoint {
  host: string;
  port: number;
  proto: 'udp' | 'tcp';
  // The WireGuard peer (public key) this endpoint is for.
  peer?: string;
}

// A VPN network's tunnel: what the router's firewall and init need in the clear, and the provider's file sealed with
// the host's secret key (bound to the network's name).
export interface NetVpn {
  provider: 'wireguard' | 'openvpn';
  // The tunnel's interface inside the router, and the routing table its network's links use.
  ifname: string;
  table: number;
  endpoints: VpnEndpoint[];
  // The tunnel's own addresses (WireGuard; OpenVPN's come from its server).
  addresses: string[];
  // DNS servers inside the tunnel, handed to the network's VMs.
  dns: string[];
  mtu?: number;
  // A URL the router fetches through the tunnel: its page is the exit address.
  check?: string;
  sealed: string;
}

// How a router reaches the outside: a tap (development and tests; in a named network namespace when given), PCI NICs
// passed through with VFIO, or its link on another router's network (a gateway chained behind it); its address from DHCP
// or static.
export interface RouterUplink {
  tap?: { name: string; netns?: string };
  pci?: string[];
  // A network of another router: this router's link there (its MAC is `mac`) is its uplink.
  network?: string;
  mac: string;
  ipv4: 'dhcp' | { address: string; gateway: string; dns: string[] };
}

// A router VM and its uplink.
export interface RouterConfig {
  vm: string;
  uplink: RouterUplink;
  // The router runs Tor and publishes the host's onion service (host recipe agent.onion): the MAC of its local link to
  // the agent.
  onion?: { mac: string };
  // The router relays the host's own connections (the fleet's brokers) out through its uplink: the MAC of its local
  // link to the agent, and the destinations, in order.
  egress?: { mac: string; targets: EgressTarget[] };
}

// The host's networks: routers, networks and every link (absent: the VMs have no network).
export interface NetworksConfig {
  routers: RouterConfig[];
  networks: NetworkConfig[];
  links: NetLink[];
}

// A value as host.json may spell it: null stands for an absent field, and a writer may hand over read-only lists.
export type Written<T> = T extends string | number | boolean
  ? T
  : T extends readonly (infer U)[]
    ? readonly Written<U>[]
    : { [K in keyof T]: undefined extends T[K] ? Written<Exclude<T[K], undefined>> | null : Written<T[K]> };

// One VM as the builder writes it, with the guest image it was built from (for people reading host.json; the agent does
// not read it).
export type VmConfigFile = Written<VmConfig> & { image: { name: string; version: string } };

// host.json as the builder writes it: what checkHostConfig in the agent accepts and turns into a HostConfig.
export type HostConfigFile = Omit<Written<HostConfig>, 'vms'> & { vms: readonly VmConfigFile[] };
