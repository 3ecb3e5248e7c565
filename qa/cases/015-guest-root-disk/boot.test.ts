// Guest root disks: the controller boots from its EROFS disk (through a qcow2 overlay, as the agent attaches it) and
// reports ready; with the disk's first MiB overwritten it says MVOS-GUEST-FAILED at once and powers off.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../../../builder/tools/exec.ts';
import { bootToMarker } from '../../lib/boot.ts';
import { buildGuestImage, type GuestImage } from '../../lib/guest-image.ts';

const READY = 'MVOS-GUEST-READY';
const FAILED = 'MVOS-GUEST-FAILED root disk unreadable';

async function overlay(dir: string, name: string, base: string): Promise<string> {
  const file = join(dir, name);
  await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, file]);
  return file;
}

// The guest as the agent starts it: its own command line plus mvos.root, its disk behind a qcow2 overlay on virtio-blk.
function boot(guest: GuestImage, name: string, disk: string, marker: string, until: 'marker' | 'exit') {
  return bootToMarker({ name, kernel: guest.kernel, initrd: guest.initrd, append: `${guest.cmdline} mvos.root=/dev/vda`, drives: [{ file: disk, format: 'qcow2', interface: 'virtio' }], marker, timeoutS: 300, until });
}

const sha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

test('the controller boots from its root disk, and a corrupted disk fails at once with the failure marker', async () => {
  const guest = await buildGuestImage('recipes/controller.yaml');
  assert.ok(guest.disk, 'guest-base.yaml asks for the erofs output');
  const before = await sha(guest.disk!);
  const dir = await mkdtemp(join(tmpdir(), 'mvos-qa-015-'));
  try {
    const good = await boot(guest, '015-root-disk', await overlay(dir, 'good.qcow2', guest.disk!), READY, 'marker');
    assert.match(good.log, /mvos: root on \/dev\/vda \(read-only EROFS, writes in tmpfs\)/, 'init switched to the disk before ready');
    assert.ok(good.log.indexOf('mvos: root on') < good.log.indexOf(READY), 'ready came from the init on the disk');
    assert.not.match(good.log, /MVOS-GUEST-FAILED/);

    const broken = await overlay(dir, 'broken.qcow2', guest.disk!);
    await runTool('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x55 0 1M', broken]);
    const bad = await boot(guest, '015-corrupt-disk', broken, FAILED, 'exit');
    assert.not.match(bad.log, new RegExp(READY));
    assert.equal(bad.exit, { code: 0, signal: null }, 'poweroff -f ended QEMU: the agent sees the VM stop at once');
    assert.is(await sha(guest.disk!), before, 'the base disk is never written');
    console.log(`  root disk ${(good.ms / 1000).toFixed(1)} s to ready; corrupt disk: failure marker after ${(bad.ms / 1000).toFixed(1)} s, QEMU gone after ${(bad.totalMs / 1000).toFixed(1)} s`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
