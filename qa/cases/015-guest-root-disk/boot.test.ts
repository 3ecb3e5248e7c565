// Guest root disks: the controller boots from its EROFS disk (through a qcow2 overlay, as the agent attaches it) and
// reports ready; with the disk's first MiB overwritten it says MVOS-GUEST-FAILED at once and powers off.

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readTar } from '../../../builder/archive/tar.ts';
import { repoRoot } from '../../../builder/pipeline/sources.ts';
import { writeErofs } from '../../../builder/rootfs/erofs.ts';
import { runTool } from '../../../common/exec.ts';
import { qemuArgv } from '../../../common/qemu/argv.ts';
import { QemuRun } from '../../../common/qemu/runner.ts';
import { ARTIFACTS, bootToMarker } from '../../lib/boot.ts';
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
  return bootToMarker({
    name,
    kernel: guest.kernel,
    initrd: guest.initrd,
    append: `${guest.cmdline} mvos.root=/dev/vda`,
    drives: [{ file: disk, format: 'qcow2', interface: 'virtio' }],
    marker,
    timeoutS: 300,
    until,
  });
}

// Everything the guest writes on its health channel until QEMU closes it (QEMU listens; the test connects as the agent
// does).
async function listen(socket: string): Promise<string> {
  for (let tries = 0; tries < 200; tries++) {
    const heard = await new Promise<string | undefined>((resolve) => {
      let text = '';
      const client = connect(socket);
      client.on('data', (chunk) => (text += chunk.toString('utf8')));
      client.on('error', () => resolve(undefined));
      client.on('close', () => resolve(text));
    });
    if (heard !== undefined) return heard;
    await sleep(50);
  }
  throw new Error(`no health socket at ${socket}`);
}

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

test('the controller boots from its root disk, and a corrupted disk fails at once with the failure marker', async () => {
  const guest = await buildGuestImage('recipes/controller.yaml');
  assert.ok(guest.disk, 'guest-base.yaml asks for the erofs output');
  const before = await sha(guest.disk!);
  const dir = await mkdtemp(join(tmpdir(), 'mvos-qa-015-'));
  try {
    const good = await boot(guest, '015-root-disk', await overlay(dir, 'good.qcow2', guest.disk!), READY, 'marker');
    assert.match(
      good.log,
      /mvos: root on \/dev\/vda \(read-only EROFS, writes in tmpfs\)/,
      'init switched to the disk before ready',
    );
    assert.ok(good.log.indexOf('mvos: root on') < good.log.indexOf(READY), 'ready came from the init on the disk');
    assert.not.match(good.log, /MVOS-GUEST-FAILED/);

    const broken = await overlay(dir, 'broken.qcow2', guest.disk!);
    await runTool('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x55 0 1M', broken]);
    const bad = await boot(guest, '015-corrupt-disk', broken, FAILED, 'exit');
    assert.not.match(bad.log, new RegExp(READY));
    assert.equal(bad.exit, { code: 0, signal: null }, 'poweroff -f ended QEMU: the agent sees the VM stop at once');

    // The agent may be reading the health channel rather than the console: the failure is said there too.
    const socket = join(dir, 'health.sock');
    const argv = qemuArgv({
      machine: 'q35',
      accel: 'tcg',
      cpus: 1,
      memoryMiB: 256,
      kernel: guest.kernel,
      initrd: guest.initrd,
      append: `${guest.cmdline} mvos.root=/dev/vda`,
      serial: 'stdio',
      noReboot: true,
      healthChannel: socket,
      drives: [{ file: broken, format: 'qcow2', interface: 'virtio' }],
    });
    const run = await QemuRun.start({ argv, log: join(ARTIFACTS, '015-health.log') });
    try {
      // The deadline's timer must not hold the process for its 300 s once the channel has answered.
      const heard = await Promise.race([listen(socket), sleep(300_000, 'timed out', { ref: false })]);
      assert.match(heard, new RegExp(`^${FAILED}$`, 'm'), 'the failure marker arrived on the health channel');
    } finally {
      await run.stop();
    }
    assert.is(await sha(guest.disk!), before, 'the base disk is never written');
    console.log(
      `  root disk ${(good.ms / 1000).toFixed(1)} s to ready; corrupt disk: failure marker after ${(bad.ms / 1000).toFixed(1)} s, QEMU gone after ${(bad.totalMs / 1000).toFixed(1)} s`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the disk is reproducible: packing the same rootfs again, in another process and folder, gives the cached bytes', async () => {
  const guest = await buildGuestImage('recipes/controller.yaml');
  const lock = JSON.parse(await readFile(join(repoRoot, 'recipes/host.lock.json'), 'utf8')) as {
    sourceDateEpoch: number;
  };
  const again = await writeErofs(await readTar(await readFile(guest.rootfs), { origin: 'rootfs' }), {
    sourceDateEpoch: lock.sourceDateEpoch,
  });
  assert.is(createHash('sha256').update(again.image).digest('hex'), await sha(guest.disk!));
});

test('novm: the same disk shared read-only (raw, no overlay) boots too, writes going to the tmpfs', async () => {
  const guest = await buildGuestImage('recipes/controller.yaml');
  const shared = await bootToMarker({
    name: '015-shared-readonly',
    kernel: guest.kernel,
    initrd: guest.initrd,
    append: `${guest.cmdline} mvos.root=/dev/vda`,
    drives: [{ file: guest.disk!, format: 'raw', interface: 'virtio', readonly: true }],
    marker: READY,
    timeoutS: 300,
  });
  assert.match(shared.log, /mvos: root on \/dev\/vda/);
  assert.not.match(shared.log, /MVOS-GUEST-FAILED/);
});

test.run();
