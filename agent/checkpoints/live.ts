// Checkpoint steps on a running VM, through QMP: QEMU owns the open images, so it must make the snapshot and the merge.
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FailureError } from '../../common/errors.ts';

// The part of a QMP client the store needs (agent/qmp/client.ts's QmpClient is one).
export interface QmpLike {
  execute(command: string, args?: Record<string, unknown>): Promise<unknown>;
}

// A running VM's disk: how to reach its QEMU.
export interface LiveDisk {
  qmp: QmpLike;
}

interface NamedNode {
  'node-name': string;
  drv: string;
  file: string;
}

// The qcow2 node QEMU has open for file, whatever it is named (the top's name changes with every live checkpoint).
export async function findLayerNode(qmp: QmpLike, file: string): Promise<string | undefined> {
  return findNode(qmp, file, (drv) => drv === 'qcow2');
}

// The image file behind a filename QEMU reports: a layer attached by a live snapshot is named by a `json:{…}` spec.
export function imageFileOf(filename: string): string {
  if (!filename.startsWith('json:')) return filename;
  try {
    const spec = JSON.parse(filename.slice('json:'.length)) as { file?: { filename?: string } };
    return spec.file?.filename ?? filename;
  } catch {
    return filename;
  }
}

// Puts newTop (already created over top, with the right backing name in its header) on top of the running disk.
export async function snapshotLive(qmp: QmpLike, top: string, newTop: string, nodeName: string): Promise<void> {
  const node = await findLayerNode(qmp, top);
  if (!node) throw new FailureError(`the running VM does not have ${top} open; cannot checkpoint it live`);
  await qmp.execute('blockdev-snapshot-sync', {
    'node-name': node,
    'snapshot-file': resolve(newTop),
    'snapshot-node-name': nodeName,
    format: 'qcow2',
    mode: 'existing',
  });
}

// Streams the layer below child into child and points child at `base` (a file below it, or nothing), with QEMU doing
// the copying while the VM runs; waits for the job and rejects with its error.
export async function streamLive(
  qmp: QmpLike,
  child: string,
  base: { file: string; backingName: string } | undefined,
  jobId: string,
): Promise<void> {
  const device = await findLayerNode(qmp, child);
  if (!device) throw new FailureError(`the running VM does not have ${child} open; cannot merge into it live`);
  const args: Record<string, unknown> = { 'job-id': jobId, device, 'auto-dismiss': false, 'auto-finalize': true };
  if (base) {
    const baseNode = await findNode(qmp, base.file);
    if (!baseNode) throw new FailureError(`the running VM does not have ${base.file} open; cannot merge live`);
    args['base-node'] = baseNode;
    args['backing-file'] = base.backingName;
  }
  await qmp.execute('block-stream', args);
  await waitForJob(qmp, jobId);
}

// Whether QEMU still has the job (concluded or running) from an earlier agent that died while it ran.
export async function jobExists(qmp: QmpLike, jobId: string): Promise<boolean> {
  const jobs = (await qmp.execute('query-jobs')) as Array<{ id: string }>;
  return jobs.some((job) => job.id === jobId);
}

// Polls the job until it concluded, dismisses it and rejects with its error (events need not reach us: polling
// suffices).
export async function waitForJob(qmp: QmpLike, jobId: string): Promise<void> {
  for (;;) {
    const jobs = (await qmp.execute('query-jobs')) as Array<{ id: string; status: string; error?: string }>;
    const job = jobs.find((candidate) => candidate.id === jobId);
    if (!job) return;
    if (job.status === 'concluded') {
      await qmp.execute('job-dismiss', { id: jobId });
      if (job.error) throw new FailureError(`the merge job ${jobId} failed in QEMU: ${job.error}`);
      return;
    }
    await sleep(50);
  }
}

// The format node (not the protocol node under it) QEMU has open for file; the raw base counts too.
async function findNode(
  qmp: QmpLike,
  file: string,
  accept: (drv: string) => boolean = (drv) => drv !== 'file',
): Promise<string | undefined> {
  const nodes = (await qmp.execute('query-named-block-nodes', { flat: true })) as NamedNode[];
  const wanted = await canonical(file);
  for (const node of nodes) {
    if (accept(node.drv) && (await canonical(imageFileOf(node.file))) === wanted) return node['node-name'];
  }
  return undefined;
}

async function canonical(file: string): Promise<string> {
  return realpath(file).catch(() => resolve(file));
}
