import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../../common/temp-dir.ts';
import { bindVfio, vfioProblems } from './vfio.ts';

// A sysfs with PCI devices in IOMMU groups, their drivers as links; drivers_probe binds a device to its override.
async function fakeSysfs(
  root: string,
  devices: Array<{ address: string; group: number; klass: string; driver?: string }>,
): Promise<void> {
  await mkdir(join(root, 'bus/pci/devices'), { recursive: true });
  await mkdir(join(root, 'bus/pci/drivers'), { recursive: true });
  for (const d of devices) {
    const dir = join(root, 'devices/pci0000:00', d.address);
    const group = join(root, 'kernel/iommu_groups', String(d.group));
    await mkdir(join(group, 'devices'), { recursive: true });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'vendor'), '0x8086\n');
    await writeFile(join(dir, 'class'), `${d.klass}\n`);
    await writeFile(join(dir, 'driver_override'), '(null)\n');
    await symlink(dir, join(root, 'bus/pci/devices', d.address));
    await symlink(group, join(dir, 'iommu_group'));
    await symlink(dir, join(group, 'devices', d.address));
    if (d.driver) {
      await mkdir(join(root, 'bus/pci/drivers', d.driver), { recursive: true });
      await symlink(join(root, 'bus/pci/drivers', d.driver), join(dir, 'driver'));
    }
  }
}

test('a NIC alone in its group (a bridge beside it): override set, host driver unbound, probe asked; a NIC already on vfio-pci is left', () =>
  withTempDir('mvos-vfio-', async (root) => {
    await fakeSysfs(root, [
      { address: '0000:03:00.0', group: 7, klass: '0x020000', driver: 'e1000e' },
      { address: '0000:00:1c.0', group: 7, klass: '0x060400', driver: 'pcieport' },
      { address: '0000:04:00.0', group: 8, klass: '0x020000', driver: 'vfio-pci' },
    ]);
    assert.equal(await vfioProblems(['0000:03:00.0', '0000:04:00.0'], root), []);
    // The fake kernel does not rebind: the writes are what is checked, then the refusal to go on without vfio-pci.
    try {
      await bindVfio(['0000:04:00.0', '0000:03:00.0'], root);
      assert.unreachable('should have thrown');
    } catch (error) {
      assert.match((error as Error).message, /0000:03:00.0: vfio-pci did not take it/);
    }
    const device = join(root, 'bus/pci/devices/0000:03:00.0');
    assert.is(await readFile(join(device, 'driver_override'), 'utf8'), 'vfio-pci');
    assert.is(await readFile(join(root, 'bus/pci/drivers/e1000e/unbind'), 'utf8'), '0000:03:00.0');
    assert.is(await readFile(join(root, 'bus/pci/drivers_probe'), 'utf8'), '0000:03:00.0');
    const untouched = join(root, 'bus/pci/devices/0000:04:00.0/driver_override');
    assert.is(await readFile(untouched, 'utf8'), '(null)\n', 'already on vfio-pci: nothing written');
  }));

test('a group shared with another device, a missing device and a machine without IOMMU groups are named', () =>
  withTempDir('mvos-vfio-', async (root) => {
    await fakeSysfs(root, [
      { address: '0000:03:00.0', group: 7, klass: '0x020000', driver: 'e1000e' },
      { address: '0000:03:00.1', group: 7, klass: '0x010601', driver: 'ahci' },
    ]);
    const problems = await vfioProblems(['0000:03:00.0', '0000:09:00.0'], root);
    assert.equal(problems, [
      '0000:03:00.0: shares IOMMU group 7 with 0000:03:00.1 (class 0x010601, driver ahci): pass that device to the router too, or move the NIC to another slot',
      "0000:09:00.0: no such PCI device (lspci lists the machine's NICs)",
    ]);
    try {
      await bindVfio(['0000:03:00.0'], root);
      assert.unreachable('should have thrown');
    } catch (error) {
      assert.match((error as Error).message, /cannot be passed to the router: 0000:03:00.0: shares IOMMU group 7/);
    }
    assert.is(
      await readFile(join(root, 'bus/pci/devices/0000:03:00.0/driver_override'), 'utf8'),
      '(null)\n',
      'untouched',
    );
    const bare = join(root, 'bare');
    await mkdir(join(bare, 'bus/pci/devices'), { recursive: true });
    assert.match((await vfioProblems([], bare))[0]!, /no IOMMU groups: turn on VT-d/);
  }));

test.run();
