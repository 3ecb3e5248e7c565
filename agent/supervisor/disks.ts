// A VM's writable disk as the supervisor sees it: the top of its checkpoint store, or an ephemeral layer that dies with
// the VM.
import type { LiveDisk } from '../checkpoints/live.ts';
import { CheckpointStore, type RecoveryReport, vmDiskDir } from '../checkpoints/store.ts';
import type { VmConfig } from '../config.ts';
import { createEphemeralLayer, discardEphemeralLayer, type EphemeralLayer } from '../disks/ephemeral.ts';
import { imagePath } from '../launch/vm.ts';

// The base image of a VM with a disk, as a path on this machine.
export async function baseImage(vm: VmConfig, root: string): Promise<{ path: string; format: 'raw' } | undefined> {
  return vm.disk ? { path: await imagePath(root, vm.disk), format: 'raw' } : undefined;
}

// Opens (creating and recovering) the checkpoint store of a persistent `vm` VM with a disk; others have none. A VM that
// runs now passes its QMP.
export async function openStore(
  vm: VmConfig,
  stateDir: string,
  root: string,
  live?: LiveDisk,
): Promise<{ store: CheckpointStore; recovery: RecoveryReport } | undefined> {
  const base = await baseImage(vm, root);
  if (!base || vm.ephemeral || vm.launch !== 'vm') return undefined;
  return CheckpointStore.open(vmDiskDir(stateDir, vm.name), { base, ...(live ? { live } : {}) });
}

// A fresh ephemeral layer over the VM's base image (QEMU writes its pid into the layer, so a sweep sees who holds it).
export async function ephemeralDisk(vm: VmConfig, stateDir: string, root: string): Promise<EphemeralLayer | undefined> {
  const base = await baseImage(vm, root);
  if (!base || !vm.ephemeral || vm.launch !== 'vm') return undefined;
  return createEphemeralLayer(stateDir, vm.name, base);
}

// Destroys an ephemeral layer once its QEMU is gone.
export async function dropEphemeral(layer: EphemeralLayer | undefined): Promise<void> {
  if (layer) await discardEphemeralLayer(layer);
}
