// Raw (schema-valid) recipe data → the frozen, typed Recipe: sizes in MiB, absolute paths, defaults filled.
import { dirname, resolve } from 'node:path';
import type { NetRule } from '../../common/host-config.ts';
import type { ControllerVm, MultiverseRecipe, NetRule as RawRule, RescueVm, WorkloadVm } from './schema.types.ts';
import {
  defaultDebianSuite,
  type NetworkSpec,
  type Recipe,
  type UplinkSpec,
  type VmRole,
  type VmSpec,
} from './types.ts';

// Parses "512M", "2G" or a number of MiB into MiB.
export function memoryToMiB(memory: number | string | undefined, fallback: number): number {
  if (memory === undefined) return fallback;
  if (typeof memory === 'number') return memory;
  const amount = Number(memory.slice(0, -1));
  return memory.endsWith('G') ? amount * 1024 : amount;
}

// Default memory and ready deadline by launch kind: full VMs boot firmware and a bigger kernel.
const launchDefaults = {
  vm: { memoryMiB: 512, deadlineSeconds: 300 },
  novm: { memoryMiB: 256, deadlineSeconds: 60 },
  container: { memoryMiB: 256, deadlineSeconds: 60 },
} as const;

// Orders VMs as the agent starts them: controller, rescue, then the rest by name.
export function vmOrder(name: string): string {
  return name === 'controller' ? '0' : name === 'rescue' ? '1' : `2${name}`;
}

type AnyVm = ControllerVm & RescueVm & Partial<WorkloadVm>;

const IPV4_OR_CIDR = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/;

// A recipe rule in the host.json shape: `to` an address/CIDR or a DNS name, `vm` another VM, `port` a range.
export function normalizeRule(raw: RawRule): NetRule {
  const to =
    raw.vm !== undefined
      ? { vm: raw.vm }
      : raw.to === undefined
        ? undefined
        : IPV4_OR_CIDR.test(raw.to)
          ? { cidr: raw.to }
          : { name: raw.to.toLowerCase() };
  const port = raw.port;
  const ports: [number, number] | undefined =
    port === undefined
      ? undefined
      : typeof port === 'number'
        ? [port, port]
        : (port.split('-').map(Number) as [number, number]);
  return { action: raw.action, proto: raw.proto ?? 'any', ...(to ? { to } : {}), ...(ports ? { ports } : {}) };
}

function normalizeUplink(raw: WorkloadVm['uplink']): UplinkSpec | undefined {
  if (!raw) return undefined;
  return Object.freeze({
    pci: raw.pci ? Object.freeze([...raw.pci]) : undefined,
    tap: raw.tap,
    netns: raw.netns,
    network: raw.network,
    address: raw.address,
    gateway: raw.gateway,
    dns: Object.freeze([...(raw.dns ?? [])]),
  });
}

// The host's networks with their defaults filled, by name.
export function normalizeNetworks(raw: MultiverseRecipe['networks']): NetworkSpec[] {
  return Object.entries(raw ?? {})
    .filter((entry): entry is [string, NonNullable<(typeof entry)[1]>] => entry[1] !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, n]) =>
      Object.freeze({
        name,
        router: n.router,
        subnet: n.subnet,
        dhcp: n.dhcp ?? true,
        dns: n.dns ?? true,
        outbound: n.outbound ?? 'allow',
        ...(n.via === 'tor' ? { tor: true } : {}),
        ...(n.via && n.via !== 'tor'
          ? {
              vpn: Object.freeze({
                config: n.via.vpn.config,
                ...(n.via.vpn.provider ? { provider: n.via.vpn.provider } : {}),
                dns: Object.freeze([...(n.via.vpn.dns ?? [])]),
                ...(n.via.vpn.check ? { check: n.via.vpn.check } : {}),
              }),
            }
          : {}),
      }),
    );
}

// Builds one VmSpec; `guest` is the VM's own loaded recipe.
export function normalizeVm(name: string, raw: AnyVm, guest: Recipe): VmSpec {
  const launch = raw.launch ?? 'vm';
  const role: VmRole = name === 'controller' || name === 'rescue' ? name : (raw.role ?? 'application');
  return Object.freeze({
    name,
    role,
    recipe: guest,
    cpus: raw.cpus ?? 1,
    pin: raw.pin ? Object.freeze([...raw.pin]) : undefined,
    memoryMiB: memoryToMiB(raw.memory, launchDefaults[launch].memoryMiB),
    launch,
    autostart: raw.autostart ?? (role === 'controller' || role === 'rescue' ? role === 'controller' : false),
    ephemeral: raw.ephemeral ?? false,
    health: Object.freeze({
      deadlineSeconds: raw.health?.deadline ?? launchDefaults[launch].deadlineSeconds,
      marker: raw.health?.marker ?? 'MVOS-GUEST-READY',
      hangSeconds: raw.health?.hang ?? 15,
      heartbeatSeconds: raw.health?.heartbeat ?? 30,
    }),
    hugepages: raw.hugepages ?? 'auto',
    fallback: raw.fallback,
    restart: Object.freeze({
      attempts: raw.restart?.attempts ?? 2,
      backoffSeconds: raw.restart?.backoff ?? 5,
      windowSeconds: raw.restart?.window ?? 600,
    }),
    networks: Object.freeze([...(raw.networks ?? [])]),
    rules: Object.freeze((raw.rules ?? []).map(normalizeRule)),
    forwards: Object.freeze(
      (raw.forwards ?? []).map((f) => Object.freeze({ proto: f.proto ?? 'tcp', port: f.port, to: f.to ?? f.port })),
    ),
    uplink: normalizeUplink(raw.uplink),
  });
}

// The drivers of the hardware watchdogs a host arms with host.watchdog: QEMU's i6300esb, Intel's TCO (ICH/PCH) and AMD's
// SP5100 TCO; init opens whichever bound (the others are listed as not loaded: no such hardware).
export const WATCHDOG_MODULES = ['i6300esb', 'iTCO_wdt', 'sp5100_tco'] as const;

// What init needs to mount the /usr image: loop devices, the file system, and overlayfs to lay it under /usr.
const USR_IMAGE_MODULES = ['loop', 'squashfs', 'overlay'] as const;

// The recipe's modules, then each of `added` it does not name already.
function withModules(modules: readonly string[], added: readonly string[]): string[] {
  return [...modules, ...added.filter((m) => !modules.includes(m))];
}

// Builds the frozen Recipe from schema-valid data; `guests` maps VM name → its loaded guest recipe; `resolvePath` makes
// a path absolute from the recipe file that wrote it.
export function normalizeRecipe(
  file: string,
  raw: MultiverseRecipe,
  guests: ReadonlyMap<string, Recipe>,
  resolvePath: (pointer: string, value: string) => string = (_pointer, value) => resolve(dirname(file), value),
  bases: readonly string[] = [],
): Recipe {
  const vms = Object.entries(raw.vms ?? {})
    .filter(([name]) => guests.has(name))
    .sort(([a], [b]) => vmOrder(a).localeCompare(vmOrder(b)))
    .map(([name, vm]) => normalizeVm(name, vm as AnyVm, guests.get(name)!));
  const recipe: Recipe = {
    file,
    bases: Object.freeze([...bases]),
    kind: raw.kind,
    name: raw.name,
    version: raw.version,
    description: raw.description,
    arch: raw.arch ?? 'amd64',
    debian: Object.freeze({ suite: raw.debian?.suite ?? defaultDebianSuite }),
    kernel: Object.freeze({
      package: raw.kernel?.package,
      source: raw.kernel?.source,
      cmdline: Object.freeze([...(raw.kernel?.cmdline ?? [])]),
      modules: Object.freeze(
        withModules(
          withModules(raw.kernel?.modules ?? [], raw.initramfs?.usrImage ? USR_IMAGE_MODULES : []),
          raw.host?.watchdog ? WATCHDOG_MODULES : [],
        ),
      ),
    }),
    initramfs: Object.freeze({
      compression: raw.initramfs?.compression ?? 'zstd',
      level: raw.initramfs?.level,
      ...(raw.initramfs?.usrImage
        ? {
            usrImage: Object.freeze({
              boot: Object.freeze([...raw.initramfs.usrImage.boot]),
              unpacked: Object.freeze([...(raw.initramfs.usrImage.unpacked ?? [])]),
            }),
          }
        : {}),
    }),
    firmware: Object.freeze({
      type: raw.firmware?.type ?? 'ovmf',
      preset: raw.firmware?.preset ?? 'default',
      bootOrder: Object.freeze([...(raw.firmware?.bootOrder ?? [])]),
      timeout: raw.firmware?.timeout,
    }),
    packages: Object.freeze([...(raw.packages ?? [])]),
    drop: Object.freeze([...(raw.drop ?? [])]),
    libraries: Object.freeze({
      prune: raw.libraries?.prune ?? false,
      keep: Object.freeze([...(raw.libraries?.keep ?? [])]),
      icuLocales: Object.freeze([...(raw.libraries?.icuLocales ?? [])]),
    }),
    overlays: Object.freeze((raw.overlays ?? []).map((o, i) => resolvePath(`/overlays/${i}`, o))),
    templates: Object.freeze(
      (raw.templates ?? []).map((t, i) =>
        Object.freeze({
          source: resolvePath(`/templates/${i}/source`, t.source),
          target: t.target,
          mode: parseInt(t.mode ?? '0644', 8),
        }),
      ),
    ),
    variables: Object.freeze({ ...(raw.variables as Record<string, string | number | boolean> | undefined) }),
    agent: Object.freeze({
      enabled: raw.agent?.enabled ?? true,
      apiListen: raw.agent?.api?.listen,
      apiTls: raw.agent?.api?.tls,
      apiInsecure: raw.agent?.api?.insecure ?? false,
      apiNames: Object.freeze([...(raw.agent?.api?.names ?? [])]),
      sshListen: raw.agent?.ssh?.listen,
      onionGateway: raw.agent?.onion?.gateway,
      ...(raw.agent?.fleet
        ? {
            fleet: Object.freeze({
              servers: Object.freeze([...raw.agent.fleet.servers]),
              host: raw.agent.fleet.host,
              via: raw.agent.fleet.via,
              intervalSeconds: raw.agent.fleet.interval ?? 5,
            }),
          }
        : {}),
      users: Object.freeze(
        (raw.agent?.users ?? []).map((u) =>
          Object.freeze({
            name: u.name,
            authorizedKeys: Object.freeze([...(u.authorizedKeys ?? [])]),
            otp: u.otp ?? 'totp',
            password: u.password ?? false,
          }),
        ),
      ),
    }),
    boot: Object.freeze({ attempts: raw.boot?.attempts ?? 3, menuTimeout: raw.boot?.menuTimeout ?? 3 }),
    update: raw.update
      ? Object.freeze({
          key: raw.update.key,
          deadline: raw.update.deadline ?? 300,
          ...(raw.update.require ? { require: Object.freeze([...raw.update.require]) } : {}),
        })
      : undefined,
    host: Object.freeze({
      housekeeping: Object.freeze([...(raw.host?.housekeeping ?? [0])]),
      stateLabel: raw.host?.stateLabel ?? 'MVOS-STATE',
      ...(raw.host?.watchdog ? { watchdog: raw.host.watchdog } : {}),
    }),
    outputs: Object.freeze([...(raw.outputs ?? ['kernel+initrd'])]),
    container: raw.container ? Object.freeze({ ...raw.container }) : undefined,
    vms: Object.freeze(vms),
    networks: Object.freeze(normalizeNetworks(raw.networks)),
  };
  return Object.freeze(recipe);
}
