// The agent's status: one JSON document, served on the API socket and written to <run-dir>/status.json for shell tools.
import { join } from 'node:path';
import type { AgentStatus, AuditStats } from '../common/api-types.ts';
import { writeFileAtomic } from '../common/atomic-write.ts';
import { SerialQueue } from '../common/serial-queue.ts';
import type { HostConfig } from './config.ts';

// The first word of the one line the boot checks and people look for on the console once the agent is up.
export const READY_MARKER = 'MVOS-AGENT-READY';

// The status document is part of the API's contract in common/api-types.ts.
export type { AgentStatus } from '../common/api-types.ts';

// The status with the audit log's counts, and a warning while entries have been dropped.
export function withAudit(status: AgentStatus, audit: AuditStats): AgentStatus {
  const dropped =
    audit.dropped > 0
      ? [
          `audit log: ${audit.dropped} entries dropped by its rate limit (${audit.firstDroppedAt} to ${audit.lastDroppedAt})`,
        ]
      : [];
  return { ...status, audit, warnings: [...status.warnings, ...dropped] };
}

// The status of a freshly started agent: every VM still stopped until the supervisor reports them.
export function initialStatus(
  config: HostConfig,
  fields: { accel: 'kvm' | 'tcg'; accelReason: string; stateDir: string; startedAt: Date; warnings?: string[] },
): AgentStatus {
  return {
    host: { name: config.name, version: config.version },
    state: 'ready',
    pid: process.pid,
    node: process.version,
    startedAt: fields.startedAt.toISOString(),
    accel: fields.accel,
    accelReason: fields.accelReason,
    stateDir: fields.stateDir,
    warnings: fields.warnings ?? [],
    rescue: { active: false },
    vms: config.vms.map((vm) => ({
      name: vm.name,
      role: vm.role,
      launch: vm.launch,
      state: 'stopped',
      ephemeral: vm.ephemeral,
      autostart: vm.autostart,
      history: [],
    })),
  };
}

// Writes run one after another: run at once, an older status could land last.
const writes = new SerialQueue();

// Writes <runDir>/status.json atomically, so a reader never sees half a file; calls land in the order they were made.
export function writeStatus(runDir: string, status: AgentStatus): Promise<string> {
  const file = join(runDir, 'status.json');
  // Not fsync'd: it is rewritten on every change, and a rebooted host's agent writes it anew.
  return writes.run(() =>
    writeFileAtomic(file, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644, durable: false }).then(() => file),
  );
}
