// What changed between two agent statuses, as the fleet's events: a VM's state (with its failure), the fall back to
// rescue and back, an update's verdict. Each is one line a person reads like a chat message.
import type { AgentStatus } from '../../common/api-types.ts';

// One event before it is stamped with the host and time.
export interface StatusEvent {
  kind: string;
  text: string;
}

// The events that lead from `before` (undefined: the first status) to `after`.
export function statusEvents(before: AgentStatus | undefined, after: AgentStatus): StatusEvent[] {
  const events: StatusEvent[] = [];
  const was = new Map((before?.vms ?? []).map((vm) => [vm.name, vm]));
  for (const vm of after.vms) {
    const old = was.get(vm.name);
    if (old?.state === vm.state) continue;
    if (!old && !before) continue;
    const why = vm.state === 'failed' && vm.failure ? `: ${vm.failure.reason}` : '';
    events.push({
      kind: vm.state === 'failed' ? 'vm-failed' : 'vm',
      text: `${vm.name} ${old ? `${old.state} → ` : ''}${vm.state}${why}`,
    });
  }
  if (before && before.rescue.active !== after.rescue.active)
    events.push({
      kind: 'rescue',
      text: after.rescue.active
        ? `fell back to the rescue VM${after.rescue.reason ? `: ${after.rescue.reason}` : ''}`
        : 'back from rescue',
    });
  const seen = new Set((before?.update?.events ?? []).map((e) => `${e.at} ${e.event}`));
  for (const e of after.update?.events ?? [])
    if (before && !seen.has(`${e.at} ${e.event}`))
      events.push({
        kind: 'update',
        text: `${e.event}${e.version ? ` ${e.version}` : ''}${e.slot ? ` (slot ${e.slot})` : ''}${e.by ? ` by ${e.by}` : ''}${e.detail ? `: ${e.detail}` : ''}`,
      });
  return events;
}
