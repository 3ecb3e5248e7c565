// Bare metal: a router's uplink NICs handed to the router whole through VFIO. Each NIC must sit in an IOMMU group of
// its own (or with its siblings that go along, and bridges); it is then bound to vfio-pci by driver_override, so no
// host driver holds it. The checks say exactly what is missing, for the router's failure reason and `mvos net list`.
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

// PCI class codes that may share a group with a passed device: host and PCI bridges carry no traffic of their own.
const BRIDGE_CLASSES = [/^0x0600/, /^0x0604/];

async function read(path: string): Promise<string | undefined> {
  return (await readFile(path, 'utf8').catch(() => undefined))?.trim();
}

async function driverOf(device: string): Promise<string | undefined> {
  const link = await readlink(join(device, 'driver')).catch(() => undefined);
  return link ? basename(link) : undefined;
}

// What stops these devices from being passed to a VM: each line names the device and what to do. Empty: they can go.
export async function vfioProblems(addresses: readonly string[], sysfs = '/sys'): Promise<string[]> {
  const problems: string[] = [];
  if (!(await readdir(join(sysfs, 'kernel', 'iommu_groups')).catch(() => [])).length)
    problems.push(
      'the host has no IOMMU groups: turn on VT-d (Intel) or AMD-Vi in the firmware setup; the host boots with intel_iommu=on',
    );
  for (const address of addresses) {
    const device = join(sysfs, 'bus', 'pci', 'devices', address);
    if ((await read(join(device, 'vendor'))) === undefined) {
      problems.push(`${address}: no such PCI device (lspci lists the machine's NICs)`);
      continue;
    }
    const group = await readlink(join(device, 'iommu_group')).catch(() => undefined);
    if (!group) {
      problems.push(`${address}: in no IOMMU group (no IOMMU, or it is off)`);
      continue;
    }
    const members = await readdir(join(device, 'iommu_group', 'devices')).catch(() => [] as string[]);
    for (const member of members.filter((m) => !addresses.includes(m))) {
      const path = join(sysfs, 'bus', 'pci', 'devices', member);
      const klass = (await read(join(path, 'class'))) ?? '';
      if (BRIDGE_CLASSES.some((c) => c.test(klass))) continue;
      const driver = await driverOf(path);
      if (driver === 'vfio-pci') continue;
      problems.push(
        `${address}: shares IOMMU group ${basename(group)} with ${member} (class ${klass || '?'}${driver ? `, driver ${driver}` : ''}): pass that device to the router too, or move the NIC to another slot`,
      );
    }
  }
  return problems;
}

// Binds each device to vfio-pci (unbinding its host driver first); throws with every problem when they cannot go.
export async function bindVfio(addresses: readonly string[], sysfs = '/sys'): Promise<void> {
  const problems = await vfioProblems(addresses, sysfs);
  if (problems.length > 0) throw new Error(`the uplink cannot be passed to the router: ${problems.join('; ')}`);
  for (const address of addresses) {
    const device = join(sysfs, 'bus', 'pci', 'devices', address);
    if ((await driverOf(device)) === 'vfio-pci') continue;
    await writeFile(join(device, 'driver_override'), 'vfio-pci');
    if (await driverOf(device)) await writeFile(join(device, 'driver', 'unbind'), address);
    await writeFile(join(sysfs, 'bus', 'pci', 'drivers_probe'), address);
    if ((await driverOf(device)) !== 'vfio-pci')
      throw new Error(`${address}: vfio-pci did not take it (is the vfio-pci module loaded?)`);
  }
}
