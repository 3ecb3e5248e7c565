// The typed, normalised recipe the rest of mvos works with (raw YAML shapes are in schema.types.ts).
import type { NetForward, NetRule } from '../../common/host-config.ts';
import type { Container, MultiverseRecipe } from './schema.types.ts';

// An output format name as the recipe writes it.
export type OutputFormat = NonNullable<MultiverseRecipe['outputs']>[number];
// How a VM is launched.
export type LaunchKind = 'vm' | 'novm' | 'container';
// What a VM is for on the host.
export type VmRole = 'controller' | 'rescue' | 'application' | 'utility';
// Firmware a machine starts with.
export type FirmwareType = 'ovmf' | 'ovmf-secureboot' | 'seabios';

// One VM of a host, with its guest recipe loaded.
export interface VmSpec {
  readonly name: string;
  readonly role: VmRole;
  readonly recipe: Recipe;
  readonly cpus: number;
  readonly pin?: readonly number[];
  readonly memoryMiB: number;
  readonly launch: LaunchKind;
  readonly autostart: boolean;
  readonly ephemeral: boolean;
  readonly health: {
    readonly deadlineSeconds: number;
    readonly marker: string;
    readonly hangSeconds: number;
    readonly heartbeatSeconds: number;
  };
  readonly hugepages: 'auto' | 'on' | 'off';
  readonly fallback?: string;
  readonly restart: { readonly attempts: number; readonly backoffSeconds: number; readonly windowSeconds: number };
  // The networks it joins (one link to each network's router), its rules and the uplink ports forwarded to it.
  readonly networks: readonly string[];
  readonly rules: readonly NetRule[];
  readonly forwards: readonly NetForward[];
  // Set on a router VM: how it reaches the outside.
  readonly uplink?: UplinkSpec;
}

// A router VM's uplink as the recipe gives it: NICs, a tap, or a network of another router (`network`).
export interface UplinkSpec {
  readonly pci?: readonly string[];
  readonly tap?: string;
  readonly netns?: string;
  readonly network?: string;
  readonly address?: string;
  readonly gateway?: string;
  readonly dns: readonly string[];
}

// A network of the host, served by a router VM.
export interface NetworkSpec {
  readonly name: string;
  readonly router: string;
  readonly subnet: string;
  readonly dhcp: boolean;
  readonly dns: boolean;
  readonly outbound: 'allow' | 'deny';
  // The tunnel the network's traffic leaves through, and only through.
  readonly vpn?: VpnSpec;
  // Every TCP connection of the network goes through Tor (its router runs it); nothing else leaves.
  readonly tor?: boolean;
}

// A VPN network's tunnel: the provider's file in the key folder, and what the file does not say.
export interface VpnSpec {
  readonly config: string;
  readonly provider?: 'wireguard' | 'openvpn';
  readonly dns: readonly string[];
  readonly check?: string;
}

// One agent user as the recipe names them; their secrets come from the key folder at build time.
export interface AgentUserSpec {
  readonly name: string;
  readonly authorizedKeys: readonly string[];
  readonly otp: 'totp' | 'hotp' | 'none';
  readonly password: boolean;
}

// A template to render into the image.
export interface TemplateSpec {
  readonly source: string;
  readonly target: string;
  readonly mode: number;
}

// A Debian release a recipe can be built from, by code name.
export type DebianSuite = 'bookworm' | 'trixie';

// The suite a recipe that names none is built from: current stable.
export const defaultDebianSuite: DebianSuite = 'trixie';

// A loaded, validated, frozen recipe; paths are absolute.
export interface Recipe {
  readonly file: string;
  // The recipes it extends, nearest first (absolute paths); their lockfiles are where its own lock starts.
  readonly bases: readonly string[];
  readonly kind: 'host' | 'guest';
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly arch: 'amd64';
  // The Debian release its packages are resolved and fetched from.
  readonly debian: { readonly suite: DebianSuite };
  readonly kernel: {
    readonly package?: string;
    readonly source?: string;
    readonly cmdline: readonly string[];
    readonly modules: readonly string[];
  };
  readonly initramfs: {
    readonly compression: 'zstd' | 'gzip' | 'none';
    readonly level?: number;
    // /usr's package files that boot does not read, as a squashfs image init mounts under /usr.
    readonly usrImage?: { readonly boot: readonly string[]; readonly unpacked: readonly string[] };
  };
  readonly firmware: {
    readonly type: FirmwareType;
    readonly preset: string;
    readonly bootOrder: readonly string[];
    readonly timeout?: number;
  };
  readonly packages: readonly string[];
  readonly drop: readonly string[];
  // Shared libraries nothing needs are left out when prune is on; keep names those loaded with dlopen.
  readonly libraries: {
    readonly prune: boolean;
    readonly keep: readonly string[];
    readonly icuLocales: readonly string[];
  };
  readonly overlays: readonly string[];
  readonly templates: readonly TemplateSpec[];
  readonly variables: Readonly<Record<string, string | number | boolean>>;
  readonly agent: {
    readonly enabled: boolean;
    readonly apiListen?: string;
    // HTTPS for the TCP API: a certificate the agent makes on first start, or the key folder's.
    readonly apiTls?: 'self-signed' | 'key-folder';
    // Plain HTTP off loopback, because the recipe said so in words.
    readonly apiInsecure: boolean;
    // DNS names the API is reached by (Host/Origin checks, the self-signed certificate's SAN).
    readonly apiNames: readonly string[];
    readonly sshListen?: string;
    // The router VM that publishes the host's onion service (agent.onion.gateway).
    readonly onionGateway?: string;
    // The fleet's brokers, this host's id there, the router its connections go out through, and the status interval.
    readonly fleet?: {
      readonly servers: readonly string[];
      readonly host: string;
      readonly via?: string;
      readonly intervalSeconds: number;
    };
    readonly users: readonly AgentUserSpec[];
  };
  readonly boot: { readonly attempts: number; readonly menuTimeout: number };
  // Signed A/B updates: the trusted key (`key-folder` or a minisign public key line), the gate's deadline in seconds
  // and the VMs it requires (absent: the controller and every router).
  readonly update?: { readonly key: string; readonly deadline: number; readonly require?: readonly string[] };
  // housekeeping: CPUs kept for the host; watchdog: seconds the hardware watchdog waits for a sign of life (absent: off).
  readonly host: { readonly housekeeping: readonly number[]; readonly stateLabel: string; readonly watchdog?: number };
  readonly outputs: readonly OutputFormat[];
  readonly container?: Readonly<Container>;
  readonly vms: readonly VmSpec[];
  readonly networks: readonly NetworkSpec[];
}
