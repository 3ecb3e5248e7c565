// Ephemeral writable layers: a VM's overlay that lives only while its QEMU runs, swept away after stop or an agent
// crash.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from '../../common/fsync.ts';
import { ControlError } from '../controls.ts';
import { assertSafeVmName } from './names.ts';
import { type BaseImage, createOverlay } from './overlay.ts';

// One ephemeral layer: its folder, the overlay QEMU opens, and where QEMU writes its pid (`-pidfile`).
export interface EphemeralLayer {
  vm: string;
  dir: string;
  disk: string;
  pidFile: string;
}

// What sweepEphemeral did: layers removed and layers kept because a live QEMU holds them (or this agent is preparing
// them).
export interface SweepReport {
  removed: string[];
  kept: string[];
}

const MARKER = '.ephemeral';
const TRASH_PREFIX = '.trash-';
// Layers this agent created and has not discarded: a sweep keeps them while their QEMU is not started yet (no pid
// file); a restarted agent starts with none, so everything a crashed agent left is swept.
const preparing = new Set<string>();

interface Marker {
  vm: string;
  createdAt: string;
}

// The folder holding every ephemeral layer.
export function ephemeralRoot(stateDir: string): string {
  return join(stateDir, 'ephemeral');
}

// Creates a fresh layer for vm under <state>/ephemeral/<vm>-<id>/: the marker first (so a crash leaves only something
// the sweep recognises), then the overlay over base.
export async function createEphemeralLayer(stateDir: string, vm: string, base: BaseImage): Promise<EphemeralLayer> {
  const root = ephemeralRoot(stateDir);
  const dir = join(root, `${assertSafeVmName(vm)}-${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const marker: Marker = { vm, createdAt: new Date().toISOString() };
  await writeFile(join(dir, MARKER), `${JSON.stringify(marker)}\n`);
  await fsyncPath(root);
  preparing.add(dir);
  const layer = { vm, dir, disk: join(dir, 'disk.qcow2'), pidFile: join(dir, 'qemu.pid') };
  try {
    await createOverlay(layer.disk, base);
  } catch (error) {
    preparing.delete(dir);
    await removeLayerDir(dir);
    throw error;
  }
  return layer;
}

// Destroys a layer after its VM stopped; refuses while a QEMU still has it open.
export async function discardEphemeralLayer(layer: EphemeralLayer): Promise<void> {
  const user = await liveUser(layer.dir);
  if (user !== undefined)
    throw new ControlError('conflict', `the ephemeral disk of ${layer.vm} is still in use by QEMU (pid ${user})`);
  preparing.delete(layer.dir);
  await removeLayerDir(layer.dir);
}

// Removes every ephemeral layer no live QEMU uses: run at agent start (after a crash nothing runs) and after each stop.
export async function sweepEphemeral(stateDir: string): Promise<SweepReport> {
  const root = ephemeralRoot(stateDir);
  const report: SweepReport = { removed: [], kept: [] };
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names.sort()) {
    const dir = join(root, name);
    if (name.startsWith(TRASH_PREFIX)) {
      await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (!(await isMarked(dir))) {
      // A folder made but not yet marked, by a crashed agent; anything else here is not ours to delete.
      if (
        await rmdir(dir).then(
          () => true,
          () => false,
        )
      )
        report.removed.push(dir);
      continue;
    }
    // A pid file means QEMU started: from then on only a live QEMU keeps the layer (QEMU removes the file at a clean
    // exit).
    if (await exists(join(dir, 'qemu.pid'))) preparing.delete(dir);
    if ((await liveUser(dir)) !== undefined || preparing.has(dir)) {
      report.kept.push(dir);
      continue;
    }
    await removeLayerDir(dir);
    report.removed.push(dir);
  }
  return report;
}

// The pid of the QEMU that holds the layer's disk open, if it still runs (the pid file alone could name a reused pid).
async function liveUser(dir: string): Promise<number | undefined> {
  const text = await readFile(join(dir, 'qemu.pid'), 'utf8').catch(() => undefined);
  const pid = Number.parseInt(text?.trim() ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`).catch(() => undefined);
  if (!cmdline) return undefined;
  return cmdline.toString('utf8').includes(join(dir, 'disk.qcow2')) ? pid : undefined;
}

// A marker cut short by a crash still marks the folder as ours: only its presence counts.
async function isMarked(dir: string): Promise<boolean> {
  return exists(join(dir, MARKER));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

// Renames the folder aside first, so a crash in the middle of deleting leaves a `.trash-` folder the next sweep
// finishes.
async function removeLayerDir(dir: string): Promise<void> {
  const root = join(dir, '..');
  const trash = join(root, `${TRASH_PREFIX}${randomBytes(6).toString('hex')}`);
  await rename(dir, trash);
  await fsyncPath(root);
  await rm(trash, { recursive: true, force: true });
}
