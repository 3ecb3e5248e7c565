// The status document each host keeps in the fleet's bucket: small, typed, and made from the agent's own status so the
// fleet says what `GET /status` says.
import type { AgentStatus } from '../api-types.ts';

// Text from a host (a guest's failure line, a warning, an event) made safe to print on an operator's terminal: no
// control characters (escape sequences), at most `max` characters.
export function printable(text: string, max = 500): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, max);
}

// One host as the fleet sees it.
export interface FleetStatus {
  // Its id in the fleet (the key it may publish under).
  host: string;
  // Its image's name and version.
  name: string;
  version: string;
  // The A/B slot it booted, when it takes updates.
  slot?: 'a' | 'b';
  agent: { state: AgentStatus['state']; since: string; accel: AgentStatus['accel'] };
  rescue: { active: boolean; reason?: string };
  vms: Array<{ name: string; role: string; state: string; failure?: string }>;
  warnings: string[];
  // When the agent made this document.
  publishedAt: string;
}

// The document for an agent status, as fleet host `host`, at `now`.
export function fleetStatus(status: AgentStatus, host: string, now: Date): FleetStatus {
  return {
    host,
    name: status.host.name,
    version: status.host.version,
    ...(status.update?.booted ? { slot: status.update.booted } : {}),
    agent: { state: status.state, since: status.startedAt, accel: status.accel },
    rescue: { active: status.rescue.active, ...(status.rescue.reason ? { reason: status.rescue.reason } : {}) },
    vms: status.vms.map((vm) => ({
      name: vm.name,
      role: vm.role,
      state: vm.state,
      ...(vm.failure ? { failure: printable(vm.failure.reason) } : {}),
    })),
    warnings: status.warnings.slice(0, 20).map((w) => printable(w)),
    publishedAt: now.toISOString(),
  };
}

// One event a host publishes: what happened, to what, and when, read like a line of a chat log.
export interface FleetEvent {
  host: string;
  at: string;
  kind: string;
  text: string;
}

// A host's answer to an operator's command: what the SSH jail would print, and its exit status.
export interface FleetCommandAnswer {
  exitCode: number;
  stdout: string;
  stderr: string;
}

// Whether a document from the bucket has the shape of a status (a host publishes what it likes; readers check).
export function isFleetStatus(doc: unknown): doc is FleetStatus {
  const d = doc as Partial<FleetStatus> | null;
  const text = (v: unknown) => typeof v === 'string' && v.length <= 1000;
  return (
    typeof d === 'object' &&
    d !== null &&
    text(d.host) &&
    text(d.name) &&
    text(d.version) &&
    text(d.publishedAt) &&
    typeof d.agent === 'object' &&
    d.agent !== null &&
    text(d.agent.state) &&
    text(d.agent.since) &&
    typeof d.rescue === 'object' &&
    d.rescue !== null &&
    typeof d.rescue.active === 'boolean' &&
    Array.isArray(d.vms) &&
    d.vms.length <= 1000 &&
    d.vms.every((vm) => typeof vm === 'object' && vm !== null && text(vm.name) && text(vm.role) && text(vm.state)) &&
    Array.isArray(d.warnings) &&
    d.warnings.every(text)
  );
}
