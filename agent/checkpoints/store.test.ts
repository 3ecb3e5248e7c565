import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ControlError } from '../controls.ts';
import { qemuIo, rawBase } from '../disks/qemu-images.test-support.ts';
import { backingChain, checkImage } from '../disks/qemu-img.ts';
import { CheckpointStore, vmDiskDir } from './store.ts';

const root = await mkdtemp(join(tmpdir(), 'mvos-checkpoints-test-'));
const base = { path: join(root, 'base.img'), format: 'raw' as const };
await rawBase(base.path, 4 << 20, 0x11);
let counter = 0;

async function openFresh(): Promise<CheckpointStore> {
  const { store } = await CheckpointStore.open(vmDiskDir(join(root, `state-${++counter}`), 'vm'), { base });
  return store;
}

async function write(store: CheckpointStore, pattern: number, offset = '0'): Promise<void> {
  assert.ok(await qemuIo(store.activeDisk, [`write -P ${pattern} ${offset} 64k`]), `write ${pattern}`);
}

async function reads(store: CheckpointStore, pattern: number, offset = '0'): Promise<boolean> {
  return qemuIo(store.activeDisk, [`read -P ${pattern} ${offset} 64k`], { readOnly: true });
}

async function refusal(promise: Promise<unknown>): Promise<ControlError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, ControlError);
  return error as ControlError;
}

test('a new disk is one empty top over the base: no checkpoints, reads the base', async () => {
  const store = await openFresh();
  assert.equal(await store.list(), []);
  assert.ok(await reads(store, 0x11));
  const chain = await backingChain(store.activeDisk);
  assert.equal(
    chain.map((link) => link.filename),
    [store.activeDisk, base.path],
  );
});

test('checkpoint → write → rollback: the write is gone and the checkpoint’s data reads back; sizes are the real files', async () => {
  const store = await openFresh();
  await write(store, 0x22);
  const first = await store.create('installed');
  assert.equal(
    { ...first, createdAt: 'x', sizeBytes: 0 },
    { id: '1', parent: undefined, label: 'installed', createdAt: 'x', sizeBytes: 0, pinned: false, current: true },
  );
  assert.ok(first.sizeBytes > 64 * 1024, 'the frozen layer holds the 64 KiB written');
  assert.ok(!Number.isNaN(Date.parse(first.createdAt)));
  assert.ok(await reads(store, 0x22), 'the new top reads through to the checkpoint');
  await write(store, 0x33);
  assert.ok(await reads(store, 0x33));
  await store.rollback('1');
  assert.ok(await reads(store, 0x22), 'after rollback the write after the checkpoint is gone');
  const chain = await backingChain(store.activeDisk);
  assert.is(chain.length, 3);
  assert.is((await readdir(store.dir)).filter((n) => n.endsWith('.qcow2')).length, 2, 'the old top was discarded');
});

test('a tree: rollback to an older checkpoint starts a branch; list shows parents and which one is current', async () => {
  const store = await openFresh();
  await write(store, 0x21);
  await store.create('a');
  await write(store, 0x22);
  await store.create('b');
  await store.rollback('1');
  await write(store, 0x23);
  await store.create('c');
  const list = await store.list();
  assert.equal(
    list.map((c) => [c.id, c.parent, c.label, c.current]),
    [
      ['1', undefined, 'a', false],
      ['2', '1', 'b', false],
      ['3', '1', 'c', true],
    ],
  );
  await store.rollback('2');
  assert.ok(await reads(store, 0x22));
  assert.equal(
    (await store.list()).filter((c) => c.current).map((c) => c.id),
    ['2'],
  );
});

test('delete: a leaf is removed; one with a single child is merged into it and the data reads the same', async () => {
  const store = await openFresh();
  await write(store, 0x21, '0');
  await store.create('a');
  await write(store, 0x22, '64k');
  await store.create('b');
  await write(store, 0x23, '128k');
  await store.create('c');
  // 2 has one child (3): merged into it; 3 is current (its only child is the top).
  await store.delete('2');
  assert.equal(
    (await store.list()).map((c) => [c.id, c.parent]),
    [
      ['1', undefined],
      ['3', '1'],
    ],
  );
  assert.ok(await reads(store, 0x21, '0'));
  assert.ok(await reads(store, 0x22, '64k'), 'the merged checkpoint’s data now lives in its child');
  assert.ok(await reads(store, 0x23, '128k'));
  // The current checkpoint folds into the top; the root folds into its child over the base.
  await store.delete('3');
  await store.delete('1');
  assert.equal(await store.list(), []);
  for (const [pattern, offset] of [
    [0x21, '0'],
    [0x22, '64k'],
    [0x23, '128k'],
  ] as const)
    assert.ok(await reads(store, pattern, offset));
  const chain = await backingChain(store.activeDisk);
  assert.equal(
    chain.map((link) => link.filename),
    [store.activeDisk, base.path],
  );
  assert.equal((await readdir(store.dir)).sort(), ['layer-4.qcow2', 'manifest.json']);
  assert.is((await checkImage(store.activeDisk)).state, 'clean');
});

test('delete refuses pinned checkpoints and ones with several branches; unknown ids are not-found', async () => {
  const store = await openFresh();
  await write(store, 0x21);
  await store.create('a');
  await store.create('b');
  await store.rollback('1');
  // 1 now has two children: checkpoint 2 and the top.
  const branches = await refusal(store.delete('1'));
  assert.is(branches.kind, 'conflict');
  assert.match(branches.message, '2 branches');
  await store.pin('2', true);
  assert.is((await refusal(store.delete('2'))).kind, 'conflict');
  assert.ok((await store.list()).find((c) => c.id === '2')!.pinned);
  await store.pin('2', false);
  await store.delete('2');
  assert.is((await refusal(store.delete('9'))).kind, 'not-found');
  assert.is((await refusal(store.rollback('9'))).kind, 'not-found');
  assert.is((await refusal(store.pin('9', true))).kind, 'not-found');
  // Now 1's only child is the top: it merges.
  await store.delete('1');
  assert.ok(await reads(store, 0x21));
});

test('rollback of a running VM is refused as a conflict and changes nothing', async () => {
  const store = await openFresh();
  await store.create();
  const before = store.activeDisk;
  store.setLive({ qmp: { execute: async () => assert.unreachable('no QMP call for a refused rollback') } });
  const error = await refusal(store.rollback('1'));
  assert.is(error.kind, 'conflict');
  assert.match(error.message, 'stopped');
  assert.is(store.activeDisk, before);
});

test('a blank disk (no base) supports the same operations, a root merge included', async () => {
  const { store } = await CheckpointStore.open(vmDiskDir(join(root, 'blank'), 'vm'), { sizeBytes: 1 << 20 });
  await write(store, 0x41);
  await store.create();
  await write(store, 0x42, '64k');
  await store.delete('1');
  assert.ok(await reads(store, 0x41));
  assert.ok(await reads(store, 0x42, '64k'));
  assert.is((await backingChain(store.activeDisk)).length, 1);
});

test('reopening finds the same tree; the manifest is the truth, stray files go', async () => {
  const dir = vmDiskDir(join(root, 'reopen'), 'vm');
  const { store } = await CheckpointStore.open(dir, { base });
  await write(store, 0x51);
  await store.create('kept');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(dir, 'layer-99.qcow2'), 'stray');
  await writeFile(join(dir, '.abc.tmp'), 'half a manifest');
  const again = await CheckpointStore.open(dir, { base });
  assert.equal(again.recovery.removed.sort(), ['.abc.tmp', 'layer-99.qcow2']);
  assert.equal(await again.store.list(), await store.list());
  assert.is(again.store.activeDisk, store.activeDisk);
});

test('a broken top is replaced by an empty one over the current checkpoint and kept aside, reported', async () => {
  const dir = vmDiskDir(join(root, 'broken-top'), 'vm');
  const { store } = await CheckpointStore.open(dir, { base });
  await write(store, 0x61);
  await store.create();
  await write(store, 0x62);
  const broken = store.activeDisk;
  const { writeFile } = await import('node:fs/promises');
  await writeFile(broken, 'garbage where a qcow2 header was');
  const again = await CheckpointStore.open(dir, { base });
  assert.is(again.recovery.repaired.length, 1);
  assert.is.not(again.store.activeDisk, broken);
  assert.ok(await reads(again.store, 0x61), 'the new top reads the current checkpoint');
  assert.ok((await readdir(dir)).includes(`broken-${broken.split('/').pop()}`));
});

test('abuse: labels that could forge terminal output, ids that look like paths, VM names that climb out are refused', async () => {
  const store = await openFresh();
  for (const label of ['\u001b[2J\u001b[31mowned', 'two\nlines', 'x'.repeat(201)]) {
    assert.is((await refusal(store.create(label))).kind, 'invalid');
  }
  assert.equal(await store.list(), [], 'a refused create leaves nothing');
  await store.create('fine label ✓');
  for (const id of ['../manifest', '/etc/passwd', '1/../1', 'layer-1.qcow2']) {
    assert.is((await refusal(store.delete(id))).kind, 'not-found');
    assert.is((await refusal(store.rollback(id))).kind, 'not-found');
  }
  assert.is((await store.list()).length, 1);
  for (const vm of ['../x', 'a/b', '..', '.git']) {
    const error = (() => {
      try {
        vmDiskDir(root, vm);
      } catch (e) {
        return e;
      }
    })();
    assert.instance(error, ControlError, vm);
  }
});

test('a live checkpoint that QEMU refuses is undone at once: no pending intent, no stray layer, the next one works', async () => {
  const store = await openFresh();
  await write(store, 0x71);
  const before = (await readdir(store.dir)).sort();
  const nodes = [{ 'node-name': 'root0', drv: 'qcow2', file: store.activeDisk }];
  store.setLive({
    qmp: {
      execute: async (command: string) => {
        if (command === 'query-named-block-nodes') return nodes;
        throw new Error(`QMP ${command}: GenericError: No space left on device`);
      },
    },
  });
  const error = await store.create('doomed').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.match(String(error), 'No space left');
  store.setLive(undefined);
  const { readManifest } = await import('./manifest.ts');
  assert.is((await readManifest(store.dir))!.pending, undefined);
  assert.equal((await readdir(store.dir)).sort(), before);
  assert.equal(await store.list(), []);
  assert.is((await store.create('works')).id, '2', 'ids are never reused');
  assert.ok(await reads(store, 0x71));
});

test.after(async () => {
  await rm(root, { recursive: true, force: true });
});

test.run();
