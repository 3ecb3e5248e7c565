// Files the builder writes into an image from the recipe: the agent's host config, module list, state label,
// os-release.
import type {
  ApiTlsConfig,
  FleetConfig,
  HostConfigFile,
  UpdateConfig,
  VmConfigFile,
  Written,
} from '../../common/host-config.ts';
import { FIRMWARE_FILES, ovmfCodeFile } from '../firmware/pinned.ts';
import { hasVarstore, menuWaitMs } from '../firmware/vm.ts';
import type { Recipe, VmSpec } from '../recipe/types.ts';
import { IMAGE_API_CERT, IMAGE_API_KEY } from '../secrets/api-tls.ts';
import { IMAGE_FLEET_CA, IMAGE_FLEET_SEED } from '../secrets/fleet-files.ts';
import { type HostUsers, IMAGE_SECRET_KEY } from '../secrets/host-users.ts';
import type { VpnSecrets } from '../secrets/vpn-configs.ts';
import { CONTAINER_INITRD } from './container-init.ts';
import { networksConfig } from './network-plan.ts';

type FleetConfigFile = Written<FleetConfig>;

// Where a guest's kernel and initramfs live inside the host image.
export function guestImagePaths(vm: VmSpec): { kernel: string; initrd: string } {
  return { kernel: `/usr/share/mvos/vms/${vm.name}/vmlinuz`, initrd: `/usr/share/mvos/vms/${vm.name}/initrd` };
}

// Where a VM's immutable root disk lives inside the host image, when its recipe builds one (the erofs output).
export function guestDiskPath(vm: VmSpec): string | undefined {
  return vm.recipe.outputs.includes('erofs') ? `/usr/share/mvos/vms/${vm.name}/disk.erofs` : undefined;
}

// Where a VM's own NVRAM store lives inside the host image, beside its kernel (the agent copies it per VM before the
// first start).
export function guestVarsPath(vm: VmSpec): string {
  return `/usr/share/mvos/vms/${vm.name}/vars.fd`;
}

// A VM's firmware in host.json: the code file the host's pinned ovmf/seabios packages ship, its vars, boot order and
// menu wait.
export function vmFirmware(vm: VmSpec): VmConfigFile['firmware'] {
  if (vm.launch !== 'vm') return { type: 'none' };
  const fw = vm.recipe.firmware;
  const code = `/${FIRMWARE_FILES[fw.type === 'seabios' ? 'seabios' : ovmfCodeFile(fw.type)].path}`;
  const wait = fw.type === 'seabios' ? menuWaitMs(fw) : undefined;
  return {
    type: fw.type,
    code,
    vars: hasVarstore(fw.type) ? guestVarsPath(vm) : null,
    ...(fw.bootOrder.length > 0 ? { bootOrder: [...fw.bootOrder] } : {}),
    ...(wait !== undefined ? { menuWaitMs: wait } : {}),
  };
}

// The kernel container microVMs boot: the first guest built from kernel-config/ (the small kernel), as the host image
// carries it.
export function containerKernel(recipe: Recipe): string | undefined {
  const vm = recipe.vms.find((v) => v.recipe.kernel.source !== undefined);
  return vm && guestImagePaths(vm).kernel;
}

// host.json's agent.apiTls: the image's pair (from the key folder), the agent's own certificate, or none.
export function apiTlsConfig(recipe: Recipe): ApiTlsConfig | null {
  if (recipe.agent.apiTls === 'key-folder')
    return { source: 'key-folder', certFile: IMAGE_API_CERT, keyFile: IMAGE_API_KEY };
  return recipe.agent.apiTls === 'self-signed' ? { source: 'self-signed' } : null;
}

// host.json's update: the trusted key (resolved from the key folder by the caller when the recipe says key-folder) and
// the gate; without a list, the gate requires the controller and every router.
export function updateConfig(recipe: Recipe, resolvedKey?: string): UpdateConfig | null {
  if (!recipe.update) return null;
  const publicKey = recipe.update.key === 'key-folder' ? resolvedKey : recipe.update.key;
  if (!publicKey) throw new Error('update.key: key-folder was not resolved');
  const routers = new Set(recipe.networks.map((n) => n.router));
  const require =
    recipe.update.require ??
    recipe.vms
      .filter((vm) => vm.role === 'controller' || vm.uplink !== undefined || routers.has(vm.name))
      .map((vm) => vm.name);
  return { publicKey, deadline: recipe.update.deadline, require: [...require] };
}

// host.json's agent.fleet: the brokers, this host's id, its seed and the brokers' CA as the image ships them, and the
// router its connections go out through.
export function fleetConfig(recipe: Recipe, caShipped: boolean): FleetConfigFile | null {
  const fleet = recipe.agent.fleet;
  if (!fleet) return null;
  return {
    servers: [...fleet.servers],
    host: fleet.host,
    seedFile: IMAGE_FLEET_SEED,
    intervalSeconds: fleet.intervalSeconds,
    caFile: caShipped ? IMAGE_FLEET_CA : null,
    via: fleet.via ?? null,
  };
}

// /etc/mvos/host.json: what the agent needs to run the host's VMs; `users` are the recipe's agent users with their
// secrets resolved.
export function hostConfig(
  recipe: Recipe,
  users: HostUsers = { users: [] },
  vpn: VpnSecrets = { byNetwork: new Map() },
  updateKey?: string,
  fleet?: { caShipped: boolean },
): HostConfigFile {
  const containersKernel = recipe.agent.enabled ? containerKernel(recipe) : undefined;
  return {
    name: recipe.name,
    version: recipe.version,
    stateLabel: recipe.host.stateLabel,
    housekeeping: recipe.host.housekeeping,
    // What container workloads boot (absent: this host cannot run them).
    containers: containersKernel ? { kernel: containersKernel, initrd: CONTAINER_INITRD } : null,
    networks: networksConfig(recipe, vpn.byNetwork),
    update: updateConfig(recipe, updateKey),
    agent: {
      apiListen: recipe.agent.apiListen ?? null,
      apiTls: apiTlsConfig(recipe),
      apiInsecure: recipe.agent.apiInsecure,
      apiNames: [...recipe.agent.apiNames],
      sshListen: recipe.agent.sshListen ?? null,
      users: users.users,
      secretKeyFile: users.secretKey || vpn.secretKey ? IMAGE_SECRET_KEY : null,
      fleet: fleetConfig(recipe, fleet?.caShipped ?? false),
    },
    vms: recipe.vms.map((vm) => ({
      name: vm.name,
      role: vm.role,
      launch: vm.launch,
      cpus: vm.cpus,
      pin: vm.pin ?? null,
      memoryMiB: vm.memoryMiB,
      autostart: vm.autostart,
      ephemeral: vm.ephemeral,
      ...guestImagePaths(vm),
      cmdline: vm.recipe.kernel.cmdline.join(' '),
      disk: guestDiskPath(vm) ?? null,
      firmware: vmFirmware(vm),
      health: vm.health,
      hugepages: vm.hugepages,
      fallback: vm.fallback ?? null,
      restart: vm.restart,
      image: { name: vm.recipe.name, version: vm.recipe.version },
    })),
  };
}

// /etc/os-release of an image.
export function osRelease(recipe: Recipe): string {
  return [
    'NAME="Multiverse"',
    `ID=multiverse`,
    `VERSION_ID="${recipe.version}"`,
    `PRETTY_NAME="Multiverse ${recipe.name} ${recipe.version}"`,
    `VARIANT_ID=${recipe.kind}`,
    `IMAGE_ID=${recipe.name}`,
    `IMAGE_VERSION=${recipe.version}`,
    '',
  ].join('\n');
}

// The values templates see: the recipe's variables plus the built-in names.
export function templateValues(recipe: Recipe): Record<string, unknown> {
  return {
    ...recipe.variables,
    recipe: { name: recipe.name, version: recipe.version, kind: recipe.kind, description: recipe.description ?? '' },
    vms: Object.fromEntries(
      recipe.vms.map((vm) => [vm.name, { role: vm.role, launch: vm.launch, cpus: vm.cpus, memoryMiB: vm.memoryMiB }]),
    ),
    kernel: { cmdline: recipe.kernel.cmdline.join(' '), modules: recipe.kernel.modules },
    agent: {
      enabled: recipe.agent.enabled,
      apiListen: recipe.agent.apiListen ?? '',
      sshListen: recipe.agent.sshListen ?? '',
    },
    host: { stateLabel: recipe.host.stateLabel, housekeeping: recipe.host.housekeeping },
    boot: { attempts: recipe.boot.attempts, menuTimeout: recipe.boot.menuTimeout },
  };
}
