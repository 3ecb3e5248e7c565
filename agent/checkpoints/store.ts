// A VM's disk checkpoints as a qcow2 backing tree under <state>/vms/<vm>/disk/: every operation records its intent in
// the manifest first and changes files in an order where each intermediate state boots; recover() settles a half-done
// one.
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FailureError } from '../../common/errors.ts';
import { fsyncPath } from '../../common/fsync.ts';
import { SerialQueue } from '../../common/serial-queue.ts';
import { type CheckpointView, ControlError } from '../controls.ts';
import { assertSafeVmName } from '../disks/names.ts';
import { type BaseImage, createOverlay } from '../disks/overlay.ts';
import { backingChain, checkImage, createLayer, type DiskFormat, rebaseLayer } from '../disks/qemu-img.ts';
import { findLayerNode, jobExists, type LiveDisk, snapshotLive, streamLive, waitForJob } from './live.ts';
import { type CheckpointRecord, type Manifest, type PendingOp, readManifest, writeManifest } from './manifest.ts';

// How to open a store: the base image (or a blank size) a new disk grows from, and a hook called after each durable
// step.
export interface StoreOptions {
  base?: BaseImage;
  sizeBytes?: number;
  // The VM's QEMU, when it runs now (an agent restarted under a running VM).
  live?: LiveDisk;
  // Called with the step's name after every durable step; tests kill the process here to prove each state recovers.
  onStep?: (step: string) => void;
}

// What recover() did, for the agent's log.
export interface RecoveryReport {
  finished?: PendingOp['op'];
  undone?: PendingOp['op'];
  removed: string[];
  repaired: string[];
}

const TOP = 'top';

// The disk folder of a VM.
export function vmDiskDir(stateDir: string, vm: string): string {
  return join(stateDir, 'vms', assertSafeVmName(vm), 'disk');
}

// One VM's checkpoint store; operations run one at a time.
export class CheckpointStore {
  private live: LiveDisk | undefined;
  private readonly operations = new SerialQueue();

  private constructor(
    readonly dir: string,
    private manifest: Manifest,
    private readonly onStep: (step: string) => void,
  ) {}

  // Opens the store in dir (making a new disk from base or sizeBytes when there is none) and recovers it.
  static async open(
    dir: string,
    options: StoreOptions = {},
  ): Promise<{ store: CheckpointStore; recovery: RecoveryReport }> {
    const onStep = options.onStep ?? (() => undefined);
    const manifest = (await readManifest(dir)) ?? (await initialise(dir, options, onStep));
    const store = new CheckpointStore(dir, manifest, onStep);
    store.live = options.live;
    const recovery = await store.recover();
    return { store, recovery };
  }

  // The image QEMU should open as the VM's disk (absolute path).
  get activeDisk(): string {
    return this.path(this.manifest.top.file);
  }

  // Tells the store whether the VM runs (its QMP) or not; the supervisor calls it at start and stop.
  setLive(live: LiveDisk | undefined): void {
    this.live = live;
  }

  // The checkpoint tree, oldest first, with real file sizes.
  async list(): Promise<CheckpointView[]> {
    return this.operations.run(() => this.views());
  }

  // Freezes the current top as a new checkpoint and starts a new empty top over it (live through QMP when the VM runs).
  async create(label?: string): Promise<CheckpointView> {
    return this.mutate(async () => {
      const m = this.manifest;
      const op: PendingOp = {
        op: 'create',
        id: String(m.nextId),
        newTop: layerName(m.nextLayer),
        label: checkLabel(label),
        createdAt: new Date().toISOString(),
      };
      await this.save({ ...m, nextId: m.nextId + 1, nextLayer: m.nextLayer + 1, pending: op });
      this.onStep('create:intent');
      const top = m.top.file;
      await createLayer(this.path(op.newTop), { file: top, format: 'qcow2' }, this.live ? m.sizeBytes : undefined);
      await fsyncPath(this.path(op.newTop));
      await fsyncPath(this.dir);
      this.onStep('create:layer');
      if (this.live) {
        await snapshotLive(this.live.qmp, this.path(top), this.path(op.newTop), nodeName(op.newTop));
        this.onStep('create:snapshot');
      }
      await this.finishCreate(op);
      this.onStep('create:commit');
      return (await this.views()).find((view) => view.id === op.id)!;
    });
  }

  // Discards the current top and starts a new empty one over checkpoint id; the VM must be stopped.
  async rollback(id: string): Promise<void> {
    return this.mutate(async () => {
      if (this.live)
        throw new ControlError(
          'conflict',
          'rollback needs the VM stopped (its disk is open); stop it, or ask for a restart',
        );
      this.checkpoint(id);
      const m = this.manifest;
      const op: PendingOp = { op: 'rollback', to: id, newTop: layerName(m.nextLayer) };
      await this.save({ ...m, nextLayer: m.nextLayer + 1, pending: op });
      this.onStep('rollback:intent');
      await createLayer(this.path(op.newTop), { file: this.checkpoint(id).file, format: 'qcow2' });
      await fsyncPath(this.path(op.newTop));
      await fsyncPath(this.dir);
      this.onStep('rollback:layer');
      await this.finishRollback(op);
    });
  }

  // Marks a checkpoint as kept: a pinned checkpoint is never deleted or merged away.
  async pin(id: string, pinned: boolean): Promise<void> {
    return this.mutate(async () => {
      const m = this.manifest;
      this.checkpoint(id);
      await this.save({ ...m, checkpoints: m.checkpoints.map((c) => (c.id === id ? { ...c, pinned } : c)) });
      this.onStep('pin:commit');
    });
  }

  // Deletes a checkpoint: a leaf is removed, one with a single child is folded into it; pinned ones and ones with
  // several children (merging would have to copy it into each) are refused.
  async delete(id: string): Promise<void> {
    return this.mutate(async () => {
      const victim = this.checkpoint(id);
      if (victim.pinned) throw new ControlError('conflict', `checkpoint ${id} is pinned; unpin it first`);
      const children = this.children(id);
      if (children.length > 1) {
        throw new ControlError(
          'conflict',
          `checkpoint ${id} has ${children.length} branches growing from it (${children.join(', ')}); delete all but one first`,
        );
      }
      const m = this.manifest;
      if (children.length === 0) {
        await this.save({ ...m, checkpoints: m.checkpoints.filter((c) => c.id !== id) });
        this.onStep('delete:commit');
        await this.removeFile(victim.file);
        this.onStep('delete:unlink');
        return;
      }
      const op: PendingOp = { op: 'merge', id, child: children[0]! };
      await this.save({ ...m, pending: op });
      this.onStep('delete:intent');
      await this.mergeIntoChild(op);
      this.onStep('delete:rebase');
      await this.finishMerge(op);
    });
  }

  // Settles a half-done operation (finishing it where its new state is already whole, undoing it otherwise), removes
  // files the manifest does not name, frees leaked clusters, and replaces a missing or broken top with an empty one
  // (the broken one kept aside as broken-<name>).
  async recover(): Promise<RecoveryReport> {
    return this.operations.run(() => this.settleAll());
  }

  private async settleAll(): Promise<RecoveryReport> {
    const report: RecoveryReport = { removed: [], repaired: [] };
    // Before anything is judged broken or settled: a QEMU this agent was not told about may have the disk open.
    if (!this.live && (await checkImage(this.activeDisk)).state === 'busy') throw inUse(this.activeDisk);
    const pending = this.manifest.pending;
    if (pending) {
      const finished = await this.settle(pending);
      if (finished) report.finished = pending.op;
      else report.undone = pending.op;
    }
    const top = await checkImage(this.activeDisk, { repair: !this.live, shared: Boolean(this.live) });
    if (top.state === 'busy') throw inUse(this.activeDisk);
    report.removed = await this.removeStrays();
    for (const record of this.manifest.checkpoints) {
      const check = await checkImage(this.path(record.file), { repair: !this.live });
      if (check.state === 'busy') throw inUse(this.path(record.file));
      if (check.state === 'repaired') report.repaired.push(record.file);
      else if (check.state !== 'clean')
        throw new FailureError(`checkpoint ${record.id} (${this.path(record.file)}) is damaged: ${check.detail}`);
    }
    if (top.state === 'repaired') report.repaired.push(this.manifest.top.file);
    else if (top.state !== 'clean' && !this.live) {
      await this.replaceTop();
      report.repaired.push(this.manifest.top.file);
    }
    return report;
  }

  private async settle(op: PendingOp): Promise<boolean> {
    const m = this.manifest;
    if (op.op === 'create') {
      // Once QEMU writes to the new top it must stay; before that, a new top that is not whole is dropped.
      const switched = this.live && (await findLayerNode(this.live.qmp, this.path(op.newTop)));
      if (!switched) {
        if (!(await this.isLayerOver(op.newTop, m.top.file))) return this.undo(op.newTop);
        if (this.live) await snapshotLive(this.live.qmp, this.activeDisk, this.path(op.newTop), nodeName(op.newTop));
      }
      await this.finishCreate(op);
      return true;
    }
    if (op.op === 'rollback') {
      if (!(await this.isLayerOver(op.newTop, this.checkpoint(op.to).file))) return this.undo(op.newTop);
      await this.finishRollback(op);
      return true;
    }
    // A merge is finished, not undone: redoing the rebase is safe (it copies what the child already reads).
    if (this.live && (await jobExists(this.live.qmp, jobName(op.id)))) await waitForJob(this.live.qmp, jobName(op.id));
    await this.mergeIntoChild(op);
    await this.finishMerge(op);
    return true;
  }

  private async undo(newTop: string): Promise<false> {
    await this.save({ ...this.manifest, pending: undefined });
    await this.removeFile(newTop);
    return false;
  }

  private async finishCreate(op: Extract<PendingOp, { op: 'create' }>): Promise<void> {
    const m = this.manifest;
    const frozen: CheckpointRecord = {
      id: op.id,
      parent: m.top.parent,
      file: m.top.file,
      label: op.label,
      createdAt: op.createdAt,
      pinned: false,
    };
    await this.save({
      ...m,
      checkpoints: [...m.checkpoints, frozen],
      top: { file: op.newTop, parent: op.id },
      pending: undefined,
    });
  }

  private async finishRollback(op: Extract<PendingOp, { op: 'rollback' }>): Promise<void> {
    const old = this.manifest.top.file;
    await this.save({ ...this.manifest, top: { file: op.newTop, parent: op.to }, pending: undefined });
    this.onStep('rollback:commit');
    await this.removeFile(old);
    this.onStep('rollback:discard');
  }

  // Rebases the child onto the victim's parent (offline with qemu-img, live with a QEMU stream job); idempotent.
  private async mergeIntoChild(op: Extract<PendingOp, { op: 'merge' }>): Promise<void> {
    const victim = this.checkpoint(op.id);
    const childFile = this.childFile(op);
    const target = this.backingOf(victim.parent);
    const [link] = await backingChain(this.path(childFile), { shared: Boolean(this.live) });
    if (link?.backingFilename !== victim.file) return;
    if (this.live && (await findLayerNode(this.live.qmp, this.path(childFile)))) {
      await streamLive(
        this.live.qmp,
        this.path(childFile),
        target && { file: this.path(target.file), backingName: target.file },
        jobName(op.id),
      );
      return;
    }
    await rebaseLayer(this.path(childFile), target);
    await fsyncPath(this.path(childFile));
  }

  private async finishMerge(op: Extract<PendingOp, { op: 'merge' }>): Promise<void> {
    const m = this.manifest;
    const victim = this.checkpoint(op.id);
    const checkpoints = m.checkpoints
      .filter((c) => c.id !== op.id)
      .map((c) => (c.id === op.child ? { ...c, parent: victim.parent } : c));
    const top = op.child === TOP ? { ...m.top, parent: victim.parent } : m.top;
    await this.save({ ...m, checkpoints, top, pending: undefined });
    this.onStep('delete:commit');
    await this.removeFile(victim.file);
    this.onStep('delete:unlink');
  }

  private childFile(op: Extract<PendingOp, { op: 'merge' }>): string {
    return op.child === TOP ? this.manifest.top.file : this.checkpoint(op.child).file;
  }

  // What a layer over checkpoint `parent` names as its backing: the checkpoint's file, the base image, or nothing.
  private backingOf(parent: string | undefined): { file: string; format: DiskFormat } | undefined {
    if (parent !== undefined) return { file: this.checkpoint(parent).file, format: 'qcow2' };
    return this.manifest.base && { file: this.manifest.base.path, format: this.manifest.base.format };
  }

  private async isLayerOver(file: string, backing: string): Promise<boolean> {
    const check = await checkImage(this.path(file), { shared: Boolean(this.live) });
    if (check.state === 'busy') throw inUse(this.path(file));
    if (check.state !== 'clean') return false;
    const [link] = await backingChain(this.path(file), { shared: true });
    return link?.backingFilename === backing;
  }

  private async replaceTop(): Promise<void> {
    const m = this.manifest;
    const file = layerName(m.nextLayer);
    await this.save({ ...m, nextLayer: m.nextLayer + 1 });
    await createLayer(
      this.path(file),
      this.backingOf(m.top.parent),
      m.top.parent === undefined && !m.base ? m.sizeBytes : undefined,
    );
    await fsyncPath(this.path(file));
    await this.save({ ...this.manifest, top: { file, parent: m.top.parent } });
    // Kept aside, not deleted: whatever can still be read from it is the VM's newest data.
    await rename(this.path(m.top.file), this.path(`broken-${m.top.file}`)).catch(() => undefined);
    await fsyncPath(this.dir);
  }

  // Layer files and half-written temporaries that no manifest entry names: left by a crash, never needed again.
  private async removeStrays(): Promise<string[]> {
    const m = this.manifest;
    const named = new Set([m.top.file, ...m.checkpoints.map((c) => c.file), 'manifest.json']);
    const removed: string[] = [];
    for (const name of await readdir(this.dir)) {
      if (named.has(name)) continue;
      if (/^layer-\d+\.qcow2$/.test(name) || name.startsWith('.')) {
        await rm(this.path(name), { force: true, recursive: true });
        removed.push(name);
      }
    }
    if (removed.length > 0) await fsyncPath(this.dir);
    return removed;
  }

  private async views(): Promise<CheckpointView[]> {
    const m = this.manifest;
    const views: CheckpointView[] = [];
    for (const c of [...m.checkpoints].sort((a, b) => Number(a.id) - Number(b.id))) {
      const { size } = await stat(this.path(c.file));
      views.push({
        id: c.id,
        parent: c.parent,
        label: c.label,
        createdAt: c.createdAt,
        sizeBytes: size,
        pinned: c.pinned,
        current: m.top.parent === c.id,
      });
    }
    return views;
  }

  private children(id: string): string[] {
    const m = this.manifest;
    const children = m.checkpoints.filter((c) => c.parent === id).map((c) => c.id);
    return m.top.parent === id ? [...children, TOP] : children;
  }

  private checkpoint(id: string): CheckpointRecord {
    const found = this.manifest.checkpoints.find((c) => c.id === id);
    if (!found) throw new ControlError('not-found', `no checkpoint ${id}`);
    return found;
  }

  private async save(manifest: Manifest): Promise<void> {
    await writeManifest(this.dir, manifest);
    this.manifest = manifest;
  }

  private async removeFile(file: string): Promise<void> {
    await rm(this.path(file), { force: true });
    await fsyncPath(this.dir);
  }

  // Layers are named relative to the folder; the base image by its absolute path.
  private path(file: string): string {
    return resolve(this.dir, file);
  }

  // Runs an operation; when it fails midway (a QMP error, a full disk) its intent is settled at once, not left for the
  // next start: undone where nothing depends on the new state yet, finished where QEMU or a header already moved on.
  private mutate<T>(work: () => Promise<T>): Promise<T> {
    return this.operations.run(async () => {
      try {
        return await work();
      } catch (error) {
        const pending = this.manifest.pending;
        if (pending) await this.abandon(pending).catch(() => undefined);
        throw error;
      }
    });
  }

  private async abandon(op: PendingOp): Promise<void> {
    if (op.op === 'merge') {
      const [link] = await backingChain(this.path(this.childFile(op)), { shared: Boolean(this.live) });
      if (link?.backingFilename !== this.checkpoint(op.id).file) return this.finishMerge(op);
      await this.save({ ...this.manifest, pending: undefined });
      return;
    }
    if (op.op === 'create' && this.live && (await findLayerNode(this.live.qmp, this.path(op.newTop))))
      return this.finishCreate(op);
    await this.undo(op.newTop);
  }
}

// A new disk: the first top over the base (or blank), then the manifest; a crash between leaves a stray the next open
// removes.
async function initialise(dir: string, options: StoreOptions, onStep: (step: string) => void): Promise<Manifest> {
  const top = layerName(1);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (/^layer-\d+\.qcow2$/.test(name) || name.startsWith('.'))
      await rm(join(dir, name), { force: true, recursive: true });
  }
  let sizeBytes: number;
  if (options.base) {
    await createOverlay(join(dir, top), options.base);
    sizeBytes = (await backingChain(join(dir, top)))[0]!.virtualSize;
  } else if (options.sizeBytes !== undefined) {
    await createLayer(join(dir, top), undefined, options.sizeBytes);
    sizeBytes = options.sizeBytes;
  } else {
    throw new FailureError(`the disk in ${dir} has no manifest and no base image or size to start one`);
  }
  onStep('init:layer');
  const base = options.base && { path: resolve(options.base.path), format: options.base.format };
  const manifest: Manifest = {
    version: 1,
    base,
    sizeBytes,
    nextId: 1,
    nextLayer: 2,
    checkpoints: [],
    top: { file: top },
  };
  await writeManifest(dir, manifest);
  onStep('init:commit');
  return manifest;
}

// Labels are shown in terminals (SSH, CLI) and the WebUI: short, one line, no control characters.
function checkLabel(label: string | undefined): string | undefined {
  if (label === undefined) return undefined;
  if (label.length > 200 || /[\u0000-\u001f\u007f-\u009f]/.test(label)) {
    throw new ControlError(
      'invalid',
      'a checkpoint label is one line of at most 200 characters without control characters',
    );
  }
  return label;
}

function inUse(file: string): FailureError {
  return new FailureError(`the disk layer ${file} is open in a running QEMU the checkpoint store was not told about`, {
    hint: "open the store with that VM's QMP (live), or stop the VM first; nothing was changed",
  });
}

function layerName(n: number): string {
  return `layer-${n}.qcow2`;
}

// Node names are limited to 31 characters: derived from the layer number alone.
function nodeName(layer: string): string {
  return `mvos-${layer.replace(/\.qcow2$/, '')}`;
}

function jobName(id: string): string {
  return `mvos-merge-${id}`;
}
