// Starting a VM's QEMU by its launch kind: a container's microVM on its unpacked image, a `novm` microVM, or a full VM
// on its checkpointed or ephemeral disk (rescue also gets the disks of the VMs that fall back to it).
import { rm } from 'node:fs/promises';
import { pathExists } from '../../common/files.ts';
import { hostTscKhz } from '../../common/qemu/tsc.ts';
import type { NetworksConfig, VmConfig } from '../config.ts';
import type { EphemeralLayer } from '../disks/ephemeral.ts';
import { novmSpec } from '../launch/novm.ts';
import { type LaunchContext, readableFormat, startQemu, vmSpec } from '../launch/vm.ts';
import { networkLaunch, type OnionLaunch } from '../net/links.ts';
import { ephemeralDisk } from './disks.ts';
import type { Slot } from './slot.ts';

// A disk of a stopped VM handed to a rescue VM to inspect and repair.
type RepairDisk = NonNullable<LaunchContext['repairDisks']>[number];

// What a launch needs besides the slot: the machine's settings and the supervisor's view of the other VMs.
export interface LaunchNeeds {
  root: string;
  stateDir: string;
  accel: 'kvm' | 'tcg';
  qemu?: string;
  log: (line: string) => void;
  // Records a fresh ephemeral layer before QEMU opens it (a restarted agent must find it to destroy it).
  keepLayer: (layer: EphemeralLayer) => Promise<void>;
  // The active disk of the VM's checkpoint store, opened on first use; undefined when it has none.
  storeDisk: () => Promise<string | undefined>;
  // Every VM of the host (a rescue VM gets the disks of those that fall back to it).
  slots: Iterable<Slot>;
  // The host's networks: a VM's links, a router's uplink and files.
  networks?: NetworksConfig;
  // The key that opens the VPN networks' provider files (host.json's agent.secretKeyFile).
  secretKeyFile?: string;
  // The onion service's files and doors, for its gateway.
  onion?: OnionLaunch;
}

// The disks of the stopped VMs that fall back to this rescue VM: rescue gets them to inspect and repair.
async function repairDisks(rescue: VmConfig, slots: Iterable<Slot>): Promise<RepairDisk[]> {
  const disks: RepairDisk[] = [];
  for (const slot of slots) {
    const file = slot.store?.activeDisk;
    if (slot.vm.fallback !== rescue.name || slot.instance || !file) continue;
    if (await pathExists(file)) disks.push({ file, format: await readableFormat(file) });
  }
  return disks;
}

// Starts the slot's QEMU and returns its pid.
export async function launchQemu(slot: Slot, needs: LaunchNeeds): Promise<number> {
  const { vm, paths } = slot;
  await rm(paths.serialLog, { force: true });
  const { netns, ...net } = await networkLaunch(needs.networks, vm.name, needs.stateDir, {
    ...(needs.secretKeyFile ? { secretKeyFile: needs.secretKeyFile } : {}),
    ...(needs.onion ? { onion: needs.onion } : {}),
  });
  const qemu = { ...(needs.qemu ? { qemu: needs.qemu } : {}), ...(netns ? { netns } : {}) };
  const memory = slot.record.pinning?.memory;
  const tscKhz = needs.accel === 'tcg' ? hostTscKhz() : undefined;
  const base = { root: needs.root, accel: needs.accel, paths, tscKhz, ...(memory ? { memory } : {}), net };
  if (vm.launch === 'container') {
    const files = slot.record.container;
    if (!files) throw new Error('the container image was not prepared');
    return startQemu(
      await novmSpec(vm, {
        ...base,
        rootDisk: files.rootfs,
        extraDrives: [files.configDisk],
        append: 'mvos.config=/dev/vdb',
      }),
      paths,
      qemu,
    );
  }
  if (vm.launch === 'novm') return startQemu(await novmSpec(vm, base), paths, qemu);
  const layer = await ephemeralDisk(vm, needs.stateDir, needs.root);
  if (layer) await needs.keepLayer(layer);
  const disk = layer?.disk ?? (await needs.storeDisk());
  const start = { ...qemu, ...(layer ? { pidfile: layer.pidFile } : {}) };
  const repairs = vm.role === 'rescue' ? await repairDisks(vm, needs.slots) : [];
  const spec = await vmSpec(vm, { ...base, ...(disk ? { disk } : {}), repairDisks: repairs });
  return startQemu(spec, paths, start).catch(async (error: Error) => {
    if (repairs.length === 0) throw error;
    // Rescue must come up whatever state the broken disks are in: without them, then.
    needs.log(`${vm.name}: starting without the disks to repair (${error.message})`);
    return startQemu(await vmSpec(vm, { ...base, ...(disk ? { disk } : {}) }), paths, start);
  });
}
