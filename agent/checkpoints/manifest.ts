// A VM disk's checkpoint manifest: the one true record of its layers, replaced atomically, with the pending operation.
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { FailureError } from '../../common/errors.ts';
import { readTextIfExists } from '../../common/files.ts';
import type { BaseImage } from '../disks/overlay.ts';

// One frozen layer of the backing tree; parent absent: it grows from the base image (or from nothing).
export interface CheckpointRecord {
  id: string;
  parent?: string;
  file: string;
  label?: string;
  createdAt: string;
  pinned: boolean;
}

// An operation whose intent is recorded but whose end is not: recover() finishes it or undoes it.
export type PendingOp =
  // The current top is being frozen as checkpoint `id`; newTop is the layer that will grow on it.
  | { op: 'create'; id: string; newTop: string; label?: string; createdAt: string }
  // A new empty top over checkpoint `to` replaces the current top.
  | { op: 'rollback'; to: string; newTop: string }
  // Checkpoint `id` is folded into its only child (a checkpoint id, or 'top'), which is rebased onto id's parent.
  | { op: 'merge'; id: string; child: string };

// The whole manifest of one VM disk.
export interface Manifest {
  version: 1;
  base?: BaseImage;
  sizeBytes: number;
  nextId: number;
  nextLayer: number;
  checkpoints: CheckpointRecord[];
  // The layer the VM writes to, and the checkpoint it grows from.
  top: { file: string; parent?: string };
  pending?: PendingOp;
}

const NAME = 'manifest.json';

// The manifest's path in a disk folder.
export function manifestPath(dir: string): string {
  return join(dir, NAME);
}

// Reads the manifest; undefined when the disk folder has none yet.
export async function readManifest(dir: string): Promise<Manifest | undefined> {
  const text = await readTextIfExists(manifestPath(dir));
  if (text === undefined) return undefined;
  try {
    const manifest = JSON.parse(text) as Manifest;
    if (manifest.version !== 1) throw new Error(`unknown version ${String(manifest.version)}`);
    return manifest;
  } catch (error) {
    throw new FailureError(`the checkpoint manifest ${manifestPath(dir)} is unreadable: ${(error as Error).message}`, {
      hint: 'it is only ever replaced whole; a damaged one means the disk was changed by hand',
    });
  }
}

// Replaces the manifest whole and durably (temporary file, fsync, rename, folder fsync).
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(manifestPath(dir), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
}
