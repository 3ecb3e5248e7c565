// A VM's record on disk (vm.json in its directory): what a restarted agent needs to re-attach and to tell the VM's story.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HealthEvent, PinPlan, VmState } from '../controls.ts';
import type { EphemeralLayer } from '../disks/ephemeral.ts';
import type { VmConfig } from '../config.ts';
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
  try {
    const json = JSON.parse(await readFile(join(dir, 'vm.json'), 'utf8')) as VmRecord;
    return { ...emptyRecord(name), ...json, name };
  } catch {
    return emptyRecord(name);
  }
}

// Writes the record by rename, so a killed agent leaves the old or the new record, never half of one.
export async function writeRecord(dir: string, record: VmRecord): Promise<void> {
  const file = join(dir, 'vm.json');
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
}
