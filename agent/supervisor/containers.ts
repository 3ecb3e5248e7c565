// Container workloads for the supervisor: a request checked and turned into a VM config, its image unpacked into a
// scratch folder the VM's life owns.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostConfig, VmConfig } from '../config.ts';
import { type ContainerRequest, ControlError } from '../controls.ts';
import { unpackOciImage } from '../launch/oci.ts';
import { configDisk } from '../launch/oci-config.ts';

// What a container VM boots besides its config: the image's root and the disk carrying its command.
export interface ContainerFiles {
  scratch: string;
  rootfs: string;
  configDisk: string;
}

const NAME = /^[a-z][a-z0-9-]{0,30}$/;
// The marker the container init prints when the command starts; a container has no deadline beyond that.
export const CONTAINER_STARTED = 'MVOS-CONTAINER-STARTED';

// Where a container's unpacked image lives while it runs.
export function containerScratch(stateDir: string, name: string): string {
  return join(stateDir, 'containers', name);
}

// Removes the unpacked images of containers whose VM is not running (a crashed agent's leftovers).
export async function sweepContainers(stateDir: string, running: (name: string) => boolean): Promise<void> {
  for (const name of await readdir(join(stateDir, 'containers')).catch(() => [] as string[])) {
    if (!running(name)) await rm(containerScratch(stateDir, name), { recursive: true, force: true });
  }
}

// Checks a request and makes the VM config of its microVM.
export function containerVm(config: HostConfig, request: ContainerRequest): VmConfig {
  if (!config.containers)
    throw new ControlError('invalid', 'this host carries no container init (its image has no small guest kernel)');
  if (typeof request.name !== 'string' || !NAME.test(request.name))
    throw new ControlError(
      'invalid',
      `container name must be a-z, 0-9 and -, starting with a letter, at most 31 characters (got ${JSON.stringify(request.name)})`,
    );
  if (typeof request.image !== 'string' || !request.image.startsWith('/'))
    throw new ControlError(
      'invalid',
      'image must be the absolute path of an OCI image layout folder or a `docker save` tarball on the host',
    );
  const cpus = request.cpus ?? 1;
  const memoryMiB = request.memoryMiB ?? 256;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64)
    throw new ControlError('invalid', `cpus must be an integer from 1 to 64 (got ${request.cpus})`);
  if (!Number.isInteger(memoryMiB) || memoryMiB < 64 || memoryMiB > 65536)
    throw new ControlError('invalid', `memoryMiB must be an integer from 64 to 65536 (got ${request.memoryMiB})`);
  return {
    name: request.name,
    role: 'application',
    launch: 'container',
    cpus,
    memoryMiB,
    autostart: false,
    ephemeral: true,
    kernel: config.containers.kernel,
    initrd: config.containers.initrd,
    cmdline: 'console=ttyS0 quiet panic=-1',
    firmware: { type: 'none' },
    health: { deadlineSeconds: 60, marker: CONTAINER_STARTED, hangSeconds: 15, heartbeatSeconds: 30 },
    hugepages: 'off',
    restart: { attempts: 0, backoffSeconds: 5, windowSeconds: 600 },
  };
}

// Unpacks the request's image and writes its config disk into a fresh scratch folder.
export async function prepareContainer(stateDir: string, request: ContainerRequest): Promise<ContainerFiles> {
  const scratch = containerScratch(stateDir, request.name);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  try {
    const overrides = {
      ...(request.entrypoint ? { entrypoint: request.entrypoint } : {}),
      ...(request.cmd ? { cmd: request.cmd } : {}),
      ...(request.env ? { env: request.env } : {}),
      ...(request.workingDir ? { workingDir: request.workingDir } : {}),
    };
    const unpacked = await unpackOciImage(request.image, join(scratch, 'image'), { overrides });
    const disk = join(scratch, 'config.img');
    await writeFile(disk, configDisk(unpacked.run));
    return { scratch, rootfs: unpacked.rootfs, configDisk: disk };
  } catch (error) {
    await rm(scratch, { recursive: true, force: true });
    throw new ControlError('invalid', `the image ${request.image} cannot be run: ${(error as Error).message}`);
  }
}
