import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ControlError } from '../controls.ts';
import {
  type HoldingQemu,
  qemuIo,
  qemuIoInside,
  rawBase,
  startHoldingQemu,
} from '../disks/qemu-images.test-support.ts';
import { backingChain, checkImage } from '../disks/qemu-img.ts';
import { QmpClient } from '../qmp/client.ts';
import { imageFileOf } from './live.ts';
import { CheckpointStore, vmDiskDir } from './store.ts';

const root = await mkdtemp(join(tmpdir(), 'mvos-checkpoint-live-'));
const base = { path: join(root, 'base.img'), format: 'raw' as const };
await rawBase(base.path, 4 << 20, 0x11);

async function guestWrite(qmp: QmpClient, qemu: HoldingQemu, pattern: number, offset: string): Promise<void> {
  assert.ok(
    await qemuIoInside(qmp, qemu, `write -P ${pattern} ${offset} 64k`),
    `write ${pattern} at ${offset} in QEMU`,
  );
}

async function guestReads(qmp: QmpClient, qemu: HoldingQemu, pattern: number, offset: string): Promise<boolean> {
  return qemuIoInside(qmp, qemu, `read -P ${pattern} ${offset} 64k`);
}

async function activeFile(qmp: QmpClient): Promise<string> {
  const devices = await qmp.execute<Array<{ device: string; inserted?: { file: string } }>>('query-block');
  return imageFileOf(devices.find((d) => d.device === 'disk0')!.inserted!.file);
}

test('live: checkpoints of a running VM go through QMP, a merge into open layers streams in QEMU, rollback waits for stop', async () => {
  const dir = vmDiskDir(join(root, 'state'), 'vm');
  const { store } = await CheckpointStore.open(dir, { base });
  assert.ok(await qemuIo(store.activeDisk, ['write -P 0x21 0 64k']));
  const socket = join(root, 'qmp.sock');
  const qemu = await startHoldingQemu({ disk: store.activeDisk, pidFile: join(root, 'qemu.pid'), qmpSocket: socket });
  const qmp = await QmpClient.connect(socket, { timeoutMs: 60_000 });
  try {
    store.setLive({ qmp });
    await guestWrite(qmp, qemu, 0x22, '64k');
    const first = await store.create('live-1');
    assert.is(first.id, '1');
    assert.is(await activeFile(qmp), store.activeDisk, 'QEMU writes to the new top');
    await guestWrite(qmp, qemu, 0x33, '128k');
    await guestWrite(qmp, qemu, 0x44, '0');
    // The second live checkpoint finds the top by its file although QEMU now calls it by another node name.
    await store.create('live-2');
    assert.is(await activeFile(qmp), store.activeDisk);
    await guestWrite(qmp, qemu, 0x55, '192k');

    const refused = await store.rollback('1').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(refused, ControlError);
    assert.is((refused as ControlError).kind, 'conflict');

    // Checkpoint 1 has one child (2), which QEMU has open as a backing layer: QEMU streams 1 into it.
    await store.delete('1');
    assert.equal(
      (await store.list()).map((c) => [c.id, c.parent, c.current]),
      [['2', undefined, true]],
    );
    for (const [pattern, offset] of [
      [0x44, '0'],
      [0x22, '64k'],
      [0x33, '128k'],
      [0x55, '192k'],
    ] as const) {
      assert.ok(
        await guestReads(qmp, qemu, pattern, offset),
        `the running VM reads ${pattern} at ${offset} after the merge`,
      );
    }
    assert.is((await qmp.execute<unknown[]>('query-jobs')).length, 0, 'the merge job is dismissed');
  } finally {
    qmp.close();
    await qemu.stop();
  }
  store.setLive(undefined);

  assert.equal(
    (await readdir(dir)).sort(),
    ['layer-2.qcow2', 'layer-3.qcow2', 'manifest.json'],
    'the merged layer is gone',
  );
  for (const file of ['layer-2.qcow2', 'layer-3.qcow2']) assert.is((await checkImage(join(dir, file))).state, 'clean');
  // The headers QEMU left name the layers as the store does: relative inside the folder, the base by absolute path.
  const chain = await backingChain(store.activeDisk);
  assert.equal(
    chain.map((l) => l.filename),
    [store.activeDisk, join(dir, 'layer-2.qcow2'), base.path],
  );
  assert.equal(
    chain.map((l) => l.backingFilename),
    ['layer-2.qcow2', base.path, undefined],
  );
  const checkpoint2 = join(dir, 'layer-2.qcow2');
  for (const [pattern, offset] of [
    [0x44, '0'],
    [0x22, '64k'],
    [0x33, '128k'],
  ] as const) {
    assert.ok(
      await qemuIo(checkpoint2, [`read -P ${pattern} ${offset} 64k`], { readOnly: true }),
      `checkpoint 2 holds ${pattern} at ${offset}`,
    );
  }
  // Checkpoint → write (0x55 at 192k, in the running VM) → rollback: the write is gone.
  assert.ok(await qemuIo(store.activeDisk, ['read -P 0x55 192k 64k'], { readOnly: true }));
  await store.rollback('2');
  assert.ok(await qemuIo(store.activeDisk, ['read -P 0 192k 64k', 'read -P 0x44 0 64k'], { readOnly: true }));
});

test('opening the store under a running QEMU it was not told about refuses and changes nothing, even mid-checkpoint', async () => {
  const dir = vmDiskDir(join(root, 'untold'), 'vm');
  const { store } = await CheckpointStore.open(dir, { base });
  await store.create('a');
  const socket = join(root, 'untold.sock');
  const qemu = await startHoldingQemu({ disk: store.activeDisk, pidFile: join(root, 'untold.pid'), qmpSocket: socket });
  const qmp = await QmpClient.connect(socket, { timeoutMs: 60_000 });
  try {
    // A live checkpoint whose agent died right after QEMU switched to the new top (the manifest still names the old).
    const { manifestPath, readManifest, writeManifest } = await import('./manifest.ts');
    const before = (await readManifest(dir))!;
    store.setLive({ qmp });
    await store.create('b');
    const { readFile } = await import('node:fs/promises');
    const after = JSON.parse(await readFile(manifestPath(dir), 'utf8'));
    await writeManifest(dir, {
      ...before,
      nextId: after.nextId,
      nextLayer: after.nextLayer,
      pending: { op: 'create', id: '2', newTop: after.top.file, label: 'b', createdAt: after.checkpoints[1].createdAt },
    });
    const files = (await readdir(dir)).sort();
    const error = await CheckpointStore.open(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match(String((error as Error)?.message), 'open in a running QEMU');
    assert.equal((await readdir(dir)).sort(), files, 'nothing was removed or replaced');
    // Told about the VM, the next open finishes the checkpoint instead.
    const { store: told, recovery } = await CheckpointStore.open(dir, { live: { qmp } });
    assert.is(recovery.finished, 'create');
    assert.equal(
      (await told.list()).map((c) => c.label),
      ['a', 'b'],
    );
    assert.is(
      imageFileOf(((await qmp.execute('query-block')) as Array<{ inserted: { file: string } }>)[0]!.inserted.file),
      told.activeDisk,
    );
  } finally {
    qmp.close();
    await qemu.stop();
  }
});

test.after(async () => {
  await rm(root, { recursive: true, force: true });
});

test.run();
