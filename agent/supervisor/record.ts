// A VM's record on disk (vm.json in its directory): what a restarted agent needs to re-attach and to tell the VM's
// story.
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { readJsonOr } from '../../common/files.ts';
import type { VmConfig } from '../config.ts';
import type { HealthEvent, PinPlan, VmState } from '../controls.ts';
import type { EphemeralLayer } from '../disks/ephemeral.ts';
import type { ContainerFiles } from './containers.ts';

// Everything the agent knows about one VM that must survive the agent.
export interface VmRecord {
  name: string;
  state: VmState;
  pid?: number;
  startedAt?: string;
  readyAt?: string;
  // When a VM that has not reported ready counts as failed (ISO time).
  deadlineAt?: string;
  // How far this QEMU run's console output has been read for health markers (the console reader's offset).
  serialOffset: number;
  pinning?: PinPlan;
  failure?: { reason: string; at: string };
  // Failures within the restart window (drives restart back-off and fallback), and when each was.
  failures: number;
  failureTimes?: string[];
  // The writable layer of an ephemeral VM while it runs (a restarted agent needs it to destroy the layer at stop).
  ephemeral?: EphemeralLayer;
  // A VM launched on request (a container workload) is not in host.json: its config and files live here.
  spec?: VmConfig;
  container?: ContainerFiles;
  result?: { exitCode: number; at: string };
  history: HealthEvent[];
}

const HISTORY_KEPT = 100;

// A fresh record for a VM the agent has not run yet.
export function emptyRecord(name: string): VmRecord {
  return { name, state: 'stopped', serialOffset: 0, failures: 0, history: [] };
}

// Appends a history event, keeping the last HISTORY_KEPT.
export function withEvent(record: VmRecord, event: string, detail?: string, at = new Date()): VmRecord {
  const entry: HealthEvent = { at: at.toISOString(), event, ...(detail ? { detail } : {}) };
  return { ...record, history: [...record.history, entry].slice(-HISTORY_KEPT) };
}

// Reads a VM's record; a missing or unreadable one is a fresh record.
export async function readRecord(dir: string, name: string): Promise<VmRecord> {
  const saved = await readJsonOr<Partial<VmRecord>>(join(dir, 'vm.json'), {}).catch(() => ({}));
  return { ...emptyRecord(name), ...saved, name };
}

// Writes the record atomically, so a killed agent leaves the old or the new record, never half of one.
export async function writeRecord(dir: string, record: VmRecord): Promise<void> {
  await writeFileAtomic(join(dir, 'vm.json'), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
}
