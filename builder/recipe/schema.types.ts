// Generated from recipes/recipe.schema.json by `npm run gen`; do not edit by hand.

/**
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "packageName".
 */
export type PackageName = string;
/**
 * The host's VMs by name: controller, rescue and any number of application/utility VMs.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vms".
 */
export type Vms = {
  controller?: ControllerVm;
  rescue?: RescueVm;
  [name: string]: ControllerVm | RescueVm | WorkloadVm | undefined;
};
/**
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "listenAddress".
 */
export type ListenAddress = string;
/**
 * Memory in MiB, or with a unit ("512M", "2G").
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "memory".
 */
export type Memory = number | string;
/**
 * Back the VM's memory with 2 MiB hugepages: auto when the host has enough free on the VM's NUMA node, on always (start fails without them), off never.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmHugepages".
 */
export type VmHugepages = 'auto' | 'on' | 'off';
/**
 * The guest recipe this VM runs.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmRecipe".
 */
export type VmRecipe = string;
/**
 * Number of vCPUs.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmCpus".
 */
export type VmCpus = number;
/**
 * Host CPUs the vCPUs are pinned to, one per vCPU (absent: the agent plans whole cores).
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmPin".
 */
export type VmPin = number[];
/**
 * vm: full VM with firmware; novm: direct kernel microVM; container: an OCI image in a microVM.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmLaunch".
 */
export type VmLaunch = 'vm' | 'novm' | 'container';
/**
 * Start when the agent starts.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmAutostart".
 */
export type VmAutostart = boolean;
/**
 * The writable layer is destroyed when the VM stops.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmEphemeral".
 */
export type VmEphemeral = boolean;
/**
 * The networks the VM joins: one link to each network's router.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmNetworks".
 */
export type VmNetworks = string[];
/**
 * The VM's firewall rules for its outgoing traffic, first match wins; then VMs stay apart and the network's `outbound` decides.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmRules".
 */
export type VmRules = NetRule[];
/**
 * Ports of the router's uplink forwarded to this VM (inbound services).
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmForwards".
 */
export type VmForwards = {
  proto?: 'tcp' | 'udp';
  /**
   * The port on the uplink.
   */
  port: number;
  /**
   * The VM's port (default: the same).
   */
  to?: number;
}[];

/**
 * A Multiverse recipe: a host image (kind: host) or a guest VM image (kind: guest). Paths are relative to the recipe file.
 */
export interface MultiverseRecipe {
  /**
   * Another recipe this one builds on: objects are merged key by key, arrays and scalars are replaced, null removes a key.
   */
  extends?: string;
  /**
   * host: the bare-metal hypervisor image; guest: an image one of the host's VMs runs.
   */
  kind: 'host' | 'guest';
  /**
   * Image name; outputs land in images/<name>/.
   */
  name: string;
  /**
   * Image version (semantic version).
   */
  version: string;
  /**
   * One line that says what this image is for.
   */
  description?: string;
  /**
   * Target architecture.
   */
  arch?: 'amd64';
  /**
   * The Debian release the image's packages come from. The builder resolves and fetches against it with apt state of its own (the build machine's apt configuration is only read for its mirror), and the lockfile records the suite, its archives and the keyrings that verify them.
   */
  debian?: {
    /**
     * The release by code name: trixie (Debian 13, current stable) or bookworm (Debian 12). Its -updates and -security suites come with it. A host's VMs are built from the host's suite.
     */
    suite?: 'bookworm' | 'trixie';
  };
  kernel?: Kernel;
  initramfs?: Initramfs;
  firmware?: Firmware;
  /**
   * Debian packages installed into the root file system (their dependency closure is resolved into the lockfile).
   */
  packages?: PackageName[];
  /**
   * Extra glob patterns of files left out of the root file system (docs, man pages and locales are always dropped).
   */
  drop?: string[];
  /**
   * Shared libraries the image carries: with prune, those that no kept program or library needs (ELF DT_NEEDED, from every executable in the image) are left out, with their links.
   */
  libraries?: {
    /**
     * Leave out the shared libraries below lib/ and usr/lib/ that nothing needs (listed in the manifest).
     */
    prune?: boolean;
    /**
     * Glob patterns of libraries kept although nothing names them in DT_NEEDED: what a program loads with dlopen (QEMU's accelerator modules, NSS modules).
     */
    keep?: string[];
    /**
     * Keep ICU's data (libicudata) only for these languages and their regional variants, with the data every locale needs (time zones, plural and unit rules, normalization, root collation); converters, transliterators, break dictionaries and every other locale are left out. Node's Intl then formats these languages and falls back to root for the others.
     */
    icuLocales?: string[];
  };
  /**
   * Directories copied over the root file system in order (later ones win).
   */
  overlays?: string[];
  /**
   * Handlebars templates rendered with the recipe's values (strict: a missing variable is an error).
   */
  templates?: Template[];
  /**
   * Values for templates, by name.
   */
  variables?: {
    [k: string]: (string | number | boolean) | undefined;
  };
  agent?: Agent;
  boot?: Boot;
  update?: Update;
  host?: HostSettings;
  /**
   * Output formats written to images/<name>/. erofs: the root tree as a read-only EROFS disk (rootfs.erofs); a host ships each VM's as that VM's immutable base disk.
   *
   * @minItems 1
   */
  outputs?: [
    'kernel+initrd' | 'iso' | 'raw' | 'qcow2' | 'erofs',
    ...('kernel+initrd' | 'iso' | 'raw' | 'qcow2' | 'erofs')[]
  ];
  container?: Container;
  vms?: Vms;
  networks?: Networks;
}
/**
 * The kernel: a pinned Debian package, or a build from linux-source with a config from kernel-config/.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "kernel".
 */
export interface Kernel {
  /**
   * Debian kernel package (its exact version is pinned in the lockfile).
   */
  package?: string;
  /**
   * Name of a config folder in kernel-config/ to build a kernel from linux-source with.
   */
  source?: string;
  /**
   * Kernel command line, one argument per item.
   */
  cmdline?: string[];
  /**
   * Kernel modules put into the initramfs (their dependencies are added).
   */
  modules?: string[];
}
/**
 * How the initramfs is packed.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "initramfs".
 */
export interface Initramfs {
  compression?: 'zstd' | 'gzip' | 'none';
  /**
   * Compression level.
   */
  level?: number;
  /**
   * The package files under /usr that boot does not read go into a squashfs image (xz, 1 MiB blocks) that init mounts under /usr: read on demand, never unpacked into memory. The kernel modules loop, squashfs and overlay are added to kernel.modules.
   */
  usrImage?: {
    /**
     * The programs boot runs before the image is mounted or right after (init's interpreter, the agent's runtime): they and every library they link to stay unpacked.
     *
     * @minItems 1
     */
    boot: [string, ...string[]];
    /**
     * Globs of further /usr paths that stay unpacked (files boot reads without linking them).
     */
    unpacked?: string[];
  };
}
/**
 * The firmware the machine starts with.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "firmware".
 */
export interface Firmware {
  /**
   * ovmf (UEFI), ovmf-secureboot (UEFI with our keys enrolled) or seabios (BIOS).
   */
  type?: 'ovmf' | 'ovmf-secureboot' | 'seabios';
  /**
   * NVRAM preset from firmware/presets/.
   */
  preset?: string;
  /**
   * Boot devices in order.
   */
  bootOrder?: ('disk' | 'cd' | 'usb' | 'network')[];
  /**
   * Seconds the firmware boot menu waits.
   */
  timeout?: number;
}
/**
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "template".
 */
export interface Template {
  /**
   * Template file (handlebars).
   */
  source: string;
  /**
   * Absolute path in the image.
   */
  target: string;
  mode?: string;
}
/**
 * The mvos agent bundled into the image.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "agent".
 */
export interface Agent {
  enabled?: boolean;
  api?: {
    /**
     * TCP address for the HTTP API and WebUI (off unless named; the unix socket is always on). Plain HTTP only on loopback unless `tls` is set or `insecure: true`.
     */
    listen?: string;
    /**
     * Serve HTTPS. self-signed: the agent makes an ECDSA certificate on first start (SAN: the listen address, loopback and `names`), keeps it in its state folder and prints its SHA-256 fingerprint on the console and in its status. key-folder: the build ships agent/api-tls.crt and agent/api-tls.key from the key folder.
     */
    tls?: 'self-signed' | 'key-folder';
    /**
     * Serve plain HTTP on a non-loopback address: passwords, codes and session cookies cross the network readable. Only for a network you trust entirely.
     */
    insecure?: boolean;
    /**
     * DNS names the API is reached by, besides its address: accepted as Host and Origin (anything else is refused, against DNS rebinding) and put into a self-signed certificate.
     */
    names?: string[];
  };
  ssh?: {
    /**
     * TCP address for the SSH control server (off unless named).
     */
    listen?: string;
  };
  /**
   * The onion call-home: the host publishes a v3 onion service for its SSH jail (port 22, when agent.ssh is on) and its API (port 80, plain HTTP inside the onion connection), reachable from anywhere the host's uplink reaches the Tor network, behind any NAT, with no port opened. Only enrolled clients (`mvos onion client add`) can even find it. Tor runs in the gateway VM, never on the host; its service key is made on first start and kept on the state partition.
   */
  onion?: {
    /**
     * The router VM that runs Tor for the service (built from recipes/tor-gateway.yaml); it reaches the agent over a local link of its own, never a network.
     */
    gateway: string;
  };
  /**
   * The fleet: the host reports its status and events to a NATS broker cluster and answers operators' commands (`mvos fleet`). It connects out, so NAT is no obstacle. Its credentials come from the key folder (`mvos fleet enroll HOST` makes fleet/hosts/HOST.nk; fleet/ca.crt, when there, is the CA of tls:// brokers), never from the recipe.
   */
  fleet?: {
    /**
     * The brokers' URLs (at most 16). A broker off the host is reached over TLS (tls://).
     *
     * @minItems 1
     */
    servers: [string, ...string[]];
    /**
     * This host's id in the fleet (its key in the status bucket, its subjects).
     */
    host: string;
    /**
     * The router VM whose uplink the host's connections to the brokers go out through (the host has no network of its own). It relays only to the brokers named here, as an unprivileged user, over a local link of its own.
     */
    via?: string;
    /**
     * Seconds between two status documents when nothing changed (default 5). `mvos fleet ls` marks a host stale after 20 s without one.
     */
    interval?: number;
  };
  /**
   * People who may control the host over SSH (key + one-time code) and the HTTP API (password). Secrets come from `mvos otp enroll` and `mvos user passwd`, never from the recipe.
   */
  users?: AgentUser[];
}
/**
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "agentUser".
 */
export interface AgentUser {
  /**
   * Login name.
   */
  name: string;
  /**
   * OpenSSH public keys (authorized_keys lines) that may log in as this user.
   */
  authorizedKeys?: string[];
  /**
   * The one-time code SSH asks for after the key (none: no SSH login for this user).
   */
  otp?: 'totp' | 'hotp' | 'none';
  /**
   * Ship the password hash set with `mvos user passwd` (for the HTTP API and WebUI).
   */
  password?: boolean;
}
/**
 * Boot menu and boot counting.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "boot".
 */
export interface Boot {
  /**
   * Tries of the host entry before the rescue entry boots by default.
   */
  attempts?: number;
  /**
   * Seconds the boot menu waits.
   */
  menuTimeout?: number;
}
/**
 * Signed A/B updates of a host on raw or qcow2 media (`mvos update bundle`, `mvos update push`): the key its bundles must be signed with, and the health gate a new version must pass before the host keeps it. A version that does not pass (or panics, hangs, reboots) is tried once and the host is back on the old one by itself.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "update".
 */
export interface Update {
  /**
   * The update key the host trusts: key-folder takes update.pub from the key folder at build time (`mvos keys init` makes it), or the public key itself as minisign prints it (the second line of update.pub).
   */
  key: string;
  /**
   * Seconds a new version has, from its kernel's start, to pass the health gate; then the host reboots into the old version and status says why.
   */
  deadline?: number;
  /**
   * The VMs that must be ready for the gate to pass, besides the agent itself. Default: the controller and every router VM.
   *
   * @maxItems 64
   */
  require?: string[];
}
/**
 * Host-wide settings.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "hostSettings".
 */
export interface HostSettings {
  /**
   * CPUs kept for the host itself (never given to a VM).
   */
  housekeeping?: number[];
  /**
   * Label of the state partition.
   */
  stateLabel?: string;
  /**
   * Arms the machine's hardware watchdog: init feeds it while the host runs, and a hang that stops it (kernel or userspace) resets the machine after this many seconds; a version on trial is then given up, and the next boot is the old slot. The drivers for QEMU's i6300esb, Intel's TCO and AMD's SP5100 TCO join the kernel modules. Off when absent.
   */
  watchdog?: number;
}
/**
 * For a guest run as a container in a microVM: the OCI image and what to run.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "container".
 */
export interface Container {
  /**
   * An OCI image layout directory or a docker-save tarball.
   */
  image: string;
  /**
   * Overrides the image's entrypoint and cmd.
   */
  command?: string[];
  /**
   * Extra environment variables.
   */
  env?: {
    [k: string]: string | undefined;
  };
  workdir?: string;
}
/**
 * The host's networks by name, each served by a router VM; a VM joins with `networks: [name]`.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "networks".
 */
export interface Networks {
  [k: string]: Network | undefined;
}
/**
 * One network: its router VM, IPv4 subnet, DHCP and DNS, and the default for traffic to the uplink.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "network".
 */
export interface Network {
  /**
   * The VM that routes this network (it needs an `uplink`).
   */
  router: string;
  /**
   * IPv4 subnet; the router is its first address, the VMs get the next ones.
   */
  subnet: string;
  /**
   * The router hands each VM its address over DHCP (otherwise the VM configures itself).
   */
  dhcp?: boolean;
  /**
   * The router answers DNS for the network's VMs (forwarding to the uplink's servers).
   */
  dns?: boolean;
  /**
   * What a VM may do towards the uplink when none of its rules matched.
   */
  outbound?: 'allow' | 'deny';
  /**
   * How the network reaches the outside instead of the uplink directly: `tor` (every TCP connection through Tor, DNS answered by Tor, everything else dropped; its router runs Tor, like recipes/tor-gateway.yaml) or a VPN tunnel; either way a kill switch in the router's static firewall, from its first packet on.
   */
  via?:
    | 'tor'
    | {
        /**
         * A VPN tunnel from your provider's file.
         */
        vpn: {
          /**
           * The provider's file (a WireGuard .conf or an OpenVPN .ovpn), by name in the key folder's vpn/ folder (0600); the image carries it sealed.
           */
          config: string;
          /**
           * Which tunnel the file is for (default: read from the file).
           */
          provider?: 'wireguard' | 'openvpn';
          /**
           * DNS servers inside the tunnel for the network's VMs (default: the file's DNS).
           *
           * @maxItems 4
           */
          dns?: [] | [string] | [string, string] | [string, string, string] | [string, string, string, string];
          /**
           * A URL the router fetches through the tunnel to see the exit address (the page is the address, as ifconfig.me answers).
           */
          check?: string;
        };
      };
}
/**
 * How the agent knows the VM is up.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "health".
 */
export interface Health {
  /**
   * Seconds from start until the VM must report ready.
   */
  deadline?: number;
  /**
   * Line the guest prints (health channel or serial) when ready.
   */
  marker?: string;
  /**
   * Seconds QEMU may leave a QMP status query unanswered before the VM counts as hung (QEMU itself wedged, not just the guest).
   */
  hang?: number;
  /**
   * Seconds of silence on the health channel, after the guest's heartbeat began, before the guest counts as hung.
   */
  heartbeat?: number;
}
/**
 * The controller VM: started at boot on its own cores.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "controllerVm".
 */
export interface ControllerVm {
  recipe: VmRecipe;
  cpus?: VmCpus;
  pin?: VmPin;
  memory?: Memory;
  launch?: VmLaunch;
  autostart?: VmAutostart;
  ephemeral?: VmEphemeral;
  hugepages?: VmHugepages;
  health?: Health;
  /**
   * VM started instead when this one fails (normally "rescue").
   */
  fallback?: string;
  restart?: {
    /**
     * Restarts before falling back.
     */
    attempts?: number;
    /**
     * Seconds before the first restart (doubles each time).
     */
    backoff?: number;
    /**
     * Seconds over which failures are counted: more than `attempts` of them in this window, whether the VM had come up or not, fall back; failures older than the window are forgotten.
     */
    window?: number;
  };
  networks?: VmNetworks;
  rules?: VmRules;
  forwards?: VmForwards;
}
/**
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "netRule".
 */
export interface NetRule {
  /**
   * allow: let it through; deny: refuse it (TCP reset or ICMP unreachable).
   */
  action: 'allow' | 'deny';
  proto?: 'tcp' | 'udp' | 'icmp' | 'any';
  /**
   * Destination: an IPv4 address or CIDR, or a DNS name (the addresses the router's DNS answered for it).
   */
  to?: string;
  /**
   * Destination: another VM of the host (VMs reach each other only where a rule says).
   */
  vm?: string;
  /**
   * Destination port or range (tcp and udp).
   */
  port?: number | string;
}
/**
 * The rescue VM: the always-working simple machine.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "rescueVm".
 */
export interface RescueVm {
  recipe: VmRecipe;
  cpus?: VmCpus;
  pin?: VmPin;
  memory?: Memory;
  launch?: VmLaunch;
  autostart?: VmAutostart;
  ephemeral?: VmEphemeral;
  hugepages?: VmHugepages;
  health?: Health;
  networks?: VmNetworks;
  rules?: VmRules;
  forwards?: VmForwards;
}
/**
 * An application or utility VM.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "workloadVm".
 */
export interface WorkloadVm {
  recipe: VmRecipe;
  cpus?: VmCpus;
  pin?: VmPin;
  memory?: Memory;
  launch?: VmLaunch;
  autostart?: VmAutostart;
  ephemeral?: VmEphemeral;
  hugepages?: VmHugepages;
  health?: Health;
  /**
   * application: a workload; utility: a service VM (network, storage).
   */
  role: 'application' | 'utility';
  networks?: VmNetworks;
  rules?: VmRules;
  forwards?: VmForwards;
  uplink?: VmUplink;
}
/**
 * A router VM's way out: PCI NICs handed over whole (bare metal), a tap (development and tests), or a network of another router (a gateway chained behind it); DHCP unless an address is given.
 *
 * This interface was referenced by `MultiverseRecipe`'s JSON-Schema
 * via the `definition` "vmUplink".
 */
export interface VmUplink {
  /**
   * A network of another router that this router's traffic leaves through (a gateway chained behind it: its link there is its uplink).
   */
  network?: string;
  /**
   * @minItems 1
   */
  pci?: [string, ...string[]];
  tap?: string;
  /**
   * The network namespace the tap lives in (tests: an "internet" the test made).
   */
  netns?: string;
  /**
   * A static address instead of DHCP.
   */
  address?: string;
  gateway?: string;
  /**
   * Upstream DNS servers with a static address.
   */
  dns?: string[];
}
