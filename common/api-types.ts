// The contract of the agent's HTTP API: the shapes it answers with, by route, and its bounds; the agent's routes keep
// to them, `mvos vm` reads them.
import type { NetForward, NetRule, NetworkConfig, VmConfig } from './host-config.ts';

// Where a VM is in its life; `ready` means it reported its health marker within its deadline.
export type VmState = 'stopped' | 'starting' | 'running' | 'ready' | 'failed' | 'stopping';

// Where each vCPU and the emulator threads run, as planned from the host topology and as applied.
export interface PinPlan {
  housekeeping: number[];
  vcpus: Array<{ vcpu: number; cpu: number; tid?: number }>;
  emulator: number[];
  // Set when the host has too few CPUs for whole cores (or any pinning at all): what was given up.
  degraded?: string;
  // Where the VM's memory is placed (NUMA node, hugepages).
  memory?: MemoryPlacement;
}

// A VM's memory placement: bound to one NUMA node or left to the kernel, on hugepages or not, and why.
export interface MemoryPlacement {
  policy: 'bind' | 'default';
  node?: number;
  hugepages: boolean;
  note: string;
}

// One entry in a VM's health history (started, ready, failed, stopped, fallback, restart…).
export interface HealthEvent {
  at: string;
  event: string;
  detail?: string;
}

// A VM as the agent reports it.
export interface VmView {
  name: string;
  role: VmConfig['role'];
  launch: VmConfig['launch'];
  state: VmState;
  pid?: number;
  startedAt?: string;
  readyAt?: string;
  ephemeral: boolean;
  autostart: boolean;
  pinning?: PinPlan;
  // Why it last failed (crash, panic, missed deadline, guest-reported problem), if it did.
  failure?: { reason: string; at: string };
  // A container workload's result: the exit code of its command (the VM's result).
  result?: { exitCode: number; at: string };
  history: HealthEvent[];
}

// One of a VM's links as the agent reports it: network, router, addresses, rules, forwards and the link's traffic as
// its router counted it (absent while the router has not reported).
export interface VmNetView {
  network: string;
  router: string;
  address: string;
  prefix: number;
  gateway: string;
  mac: string;
  rules: NetRule[];
  forwards: NetForward[];
  counters?: { sentBytes: number; sentPackets: number; receivedBytes: number; receivedPackets: number; at: string };
  // The tunnel of a VPN network: the VM's only way out, and the exit address the outside sees.
  tunnel?: TunnelStatus;
}

// A VPN network's tunnel as its router last reported it (every few seconds on its health channel).
export interface TunnelStatus {
  provider: 'wireguard' | 'openvpn';
  interface: string;
  // up: WireGuard's last handshake is under 180 s old, or OpenVPN is connected; connecting: not yet; down: the tunnel
  // is gone (nothing of its network gets out); unknown: the router has not reported (it is not running).
  state: 'up' | 'connecting' | 'down' | 'restarting' | 'unknown';
  // The endpoints as configured (`host:port/proto`), and the one in use.
  endpoints: string[];
  endpoint?: string;
  // Seconds since WireGuard's last handshake, or since OpenVPN connected.
  handshakeAgeS?: number;
  rxBytes: number;
  txBytes: number;
  // The exit address the check URL saw, and how many seconds ago.
  check?: string;
  exitAddress?: string;
  exitAgeS?: number;
  // When the router reported this.
  at?: string;
}

// A network as the API shows it: its VMs, and for a VPN network its tunnel (never its sealed provider file).
export type NetworkView = Omit<NetworkConfig, 'vpn'> & {
  vms: string[];
  tunnel?: TunnelStatus;
  // How far its router's Tor has bootstrapped (percent; 100: circuits can be built), as it last reported.
  torBootstrap?: number;
};

// The host's networks: each with its router and VMs, and each router's uplink.
export interface NetworksView {
  networks: NetworkView[];
  // problems: what stops a bare-metal uplink from being passed to its router (no IOMMU, a shared group…).
  routers: Array<{ vm: string; uplink: string; ipv4: string; state?: VmState; problems?: string[] }>;
}

// The most rules one VM may have (each becomes nftables rules in its router).
export const MAX_VM_RULES = 256;

// A container workload to run once: an OCI image on the host (layout folder or `docker save` tarball), in a microVM.
export interface ContainerRequest {
  name: string;
  image: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  cpus?: number;
  memoryMiB?: number;
}

// One disk checkpoint of a VM (a node in its qcow2 backing tree).
export interface CheckpointView {
  id: string;
  parent?: string;
  label?: string;
  createdAt: string;
  sizeBytes: number;
  pinned: boolean;
  // The checkpoint the VM's running disk grows from.
  current: boolean;
}

// Whether the host runs on its rescue VM because the controller failed.
export interface RescueState {
  active: boolean;
  reason?: string;
  since?: string;
}

// Facts about the host for the API and the WebUI.
export interface HostFacts {
  name: string;
  version: string;
  accel: 'kvm' | 'tcg';
  accelReason: string;
  cpus: { online: number[]; cores: number[][]; nodes: number[][] };
  memoryMiB: number;
  versions: { agent: string; node: string; qemu: string };
  rescue: RescueState;
}

// What status shows of one TCP listener.
export interface ListenerStatus {
  name: string;
  address: string;
  state: 'listening' | 'failed';
  error?: string;
  since: string;
}

// What the audit log has done so far, for status: suppressed events were counted into `repeated` lines, dropped ones
// are lost.
export interface AuditStats {
  written: number;
  rotations: number;
  suppressed: number;
  dropped: number;
  firstDroppedAt?: string;
  lastDroppedAt?: string;
}

// What the agent reports about itself and its VMs.
export interface AgentStatus {
  host: { name: string; version: string };
  state: 'ready' | 'stopping';
  pid: number;
  node: string;
  startedAt: string;
  accel: 'kvm' | 'tcg';
  accelReason: string;
  stateDir: string;
  // Things a person should know (TCG instead of KVM, a degraded pinning plan).
  warnings: string[];
  rescue: RescueState;
  // The SSH control server, when the host config names an address: where it listens and its host key fingerprint.
  ssh?: { listen: string; fingerprint: string };
  // The TCP API, when the host config names an address: its URL and, over TLS, the certificate and its SHA-256
  // fingerprint (AB:CD:…).
  api?: { url: string; tls?: { source: 'key-folder' | 'self-signed'; certificate: string; fingerprint: string } };
  // The onion call-home, when the host config publishes one: its address, the VM whose Tor serves it, the clients
  // enrolled, and what that Tor last said (the address it serves, once it has one).
  onion?: OnionView;
  // Each TCP listener the agent keeps trying to bind (on the host): bound or down, and why.
  listeners?: ListenerStatus[];
  // The audit log's counts: repeats counted instead of written, entries dropped by its rate limit (also named in
  // warnings).
  audit?: AuditStats;
  // Signed A/B updates, when the host takes them: which slot booted, each slot's version and verdict, a gate in
  // progress.
  update?: UpdateView;
  // The fleet link, when the host reports to a fleet's broker: how it stands, and events waiting for it.
  fleet?: FleetLinkView;
  vms: VmView[];
}

// The agent's link to its fleet's broker.
export interface FleetLinkView {
  state: 'connecting' | 'connected' | 'disconnected' | 'closed';
  since: string;
  server?: string;
  lastError?: string;
  queuedEvents: number;
  droppedEvents: number;
}

// What a slot holds and what became of it: good (booted and passed its gate, or the first version), pending (written,
// on trial or waiting for the reboot), bad (tried and failed: reason), incomplete (its write was cut off), empty.
export type UpdateSlotState = 'good' | 'pending' | 'bad' | 'incomplete' | 'empty';

// One A/B slot as status shows it.
export interface UpdateSlotView {
  slot: 'a' | 'b';
  version?: string;
  state: UpdateSlotState;
  // The slot this boot came from.
  booted: boolean;
  // GRUB's boot_slot: what the host boots when nothing is on trial.
  bootSlot: boolean;
  // GRUB's try_slot: booted once at the next boot.
  trying: boolean;
  reason?: string;
  at?: string;
}

// One thing that happened to the host's updates (applied, passed, failed, rolled back…), newest last.
export interface UpdateEvent {
  at: string;
  event: string;
  slot?: 'a' | 'b';
  version?: string;
  by?: string;
  detail?: string;
}

// The host's updates as the agent reports them.
export interface UpdateView {
  // Whether this host takes bundles now; when not, why (no update section, booted from media without slots).
  enabled: boolean;
  why?: string;
  version: string;
  // The update key's id, as minisign prints it.
  keyId?: string;
  booted?: 'a' | 'b';
  slots: UpdateSlotView[];
  // The health gate of a version on trial: what it still waits for, and the deadline (seconds since the kernel
  // started) after which init reboots into the old version.
  gate?: { slot: 'a' | 'b'; version: string; deadline: number; unmet: string[]; passed: boolean };
  // An apply in progress.
  busy?: string;
  events: UpdateEvent[];
}

// What applying a bundle answers: the slot written and whether the host reboots into it now.
export interface UpdateApplied {
  slot: 'a' | 'b';
  version: string;
  bytes: number;
  rebooting: boolean;
}

// One client enrolled for the onion service (its public key; the private half never leaves the owner's machine).
export interface OnionClientView {
  name: string;
  publicKey: string;
  added: string;
  by: string;
}

// The onion call-home as the agent serves it.
export interface OnionView {
  // The v3 address with ".onion".
  address: string;
  gateway: string;
  // The onion's ports: 22 the SSH jail (when on), 80 the API.
  ports: { ssh?: number; api: number };
  clients: OnionClientView[];
  // Published: the gateway's Tor serves the address and an HSDir accepted its descriptor (no client enrolled: nothing
  // is published).
  serving: boolean;
}

// The most clients one onion service takes (each is one entry in every descriptor Tor publishes).
export const MAX_ONION_CLIENTS = 32;

// What a console session is told when the keyboard changes hands: whether it holds it, who does, who took it from it.
export interface KeyboardState {
  writer: boolean;
  holder?: string;
  takenBy?: string;
}

// The first event of a live console stream: the session's id (named by input and keyboard requests) and the keyboard.
export interface ConsoleSessionEvent {
  id: string;
  vm: string;
  writer: boolean;
  holder?: string;
}

// The most bytes of input one POST …/console/input carries: the agent refuses more, `mvos vm console` cuts what is
// typed to it.
export const MAX_CONSOLE_INPUT_BYTES = 4096;

// Any refusal: the HTTP status says what kind, `error` what happened.
export interface ApiError {
  error: string;
}

// The JSON answer of each route that answers JSON, by method and path as the route table and /openapi.json name them.
export interface ApiAnswers {
  'POST /login': { user: string; csrf: string };
  'POST /logout': { loggedOut: true };
  'GET /api/session': { user: string; via: 'socket' | 'tcp'; csrf: string | null };
  'GET /status': AgentStatus;
  'GET /api/host': HostFacts;
  'GET /api/vms': VmView[];
  'GET /api/vms/{name}': VmView;
  'POST /api/vms/{name}/start': VmView;
  'POST /api/vms/{name}/stop': VmView;
  'POST /api/vms/{name}/restart': VmView;
  'POST /api/vms/{name}/console/keyboard': Pick<KeyboardState, 'writer' | 'holder'>;
  'POST /api/vms/{name}/console/input': { sent: number };
  'GET /api/vms/{name}/checkpoints': CheckpointView[];
  'POST /api/vms/{name}/checkpoints': CheckpointView;
  'POST /api/vms/{name}/checkpoints/{id}/rollback': { rolledBackTo: string; vm: VmView };
  'POST /api/vms/{name}/checkpoints/{id}/pin': { id: string; pinned: boolean };
  'DELETE /api/vms/{name}/checkpoints/{id}': { deleted: string };
  'POST /api/containers': VmView;
  'GET /api/networks': NetworksView;
  'POST /api/networks/{name}/restart': NetworkView;
  'GET /api/vms/{name}/net': VmNetView[];
  'POST /api/vms/{name}/rules': VmNetView[];
  'GET /api/onion': OnionView;
  'POST /api/onion/clients': OnionView;
  'DELETE /api/onion/clients/{name}': OnionView;
  'GET /api/update': UpdateView;
  'POST /api/update': UpdateApplied;
  'POST /api/update/rollback': UpdateView;
  'GET /api/vault': VaultView;
  'POST /api/vault': { vault: VaultView; cards: string[] };
  'POST /api/vault/unlock': VaultView;
  'POST /api/vault/lock': VaultView;
  'POST /api/vault/passphrase': VaultView;
  'POST /api/vault/entries': VaultView;
  'DELETE /api/vault/entries/{entry}': VaultView;
  'GET /api/vault/entries/{entry}/code': VaultCode;
  'GET /api/vault/entries/{entry}/public-key': { name: string; publicKey: string };
  'POST /api/vault/ssh-cert': VaultCertificate;
  'GET /api/rescue': RescueState;
  'POST /api/rescue': RescueState;
}

// The host vault as the API shows it: never a secret, only names, kinds, the VMs entries belong to and the CA's public
// key.
export interface VaultView {
  state: 'none' | 'locked' | 'unlocked';
  entries?: Array<{ name: string; kind: 'password' | 'totp' | 'hotp' | 'ssh-key'; vm?: string }>;
  // Custodians who may unlock it with any `threshold` of their `shares`.
  recovery?: { threshold: number; shares: number; setId: string };
  caPublicKey?: string;
  unlock: { failures: number; retryAfterSeconds?: number };
}

// A one-time code now.
export interface VaultCode {
  name: string;
  code: string;
  validForSeconds?: number;
}

// A certificate the vault's CA issued.
export interface VaultCertificate {
  certificate: string;
  validBefore: string;
  principals: string[];
}

// A route that answers JSON, as `METHOD /path/{param}`.
export type ApiRoute = keyof ApiAnswers;
