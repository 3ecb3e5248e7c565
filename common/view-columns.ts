// The columns of VM and checkpoint tables, each defined once; `mvos vm` and the SSH jail each pick the ones they show.
import type { CheckpointView, VmView } from './api-types.ts';
import type { Column } from './table.ts';

// How a VM is now (failed and why, ready since when), else its last event, as the WebUI's health column says it; a
// failure it came back from is history.
export function healthOf(vm: VmView): string {
  if (vm.state === 'failed') return `failed: ${vm.failure?.reason ?? 'no reason recorded'}`;
  if (vm.state === 'ready' && vm.readyAt) return `ready at ${vm.readyAt}`;
  const last = vm.history[vm.history.length - 1];
  return last ? `${last.event}${last.detail ? ` (${last.detail})` : ''} at ${last.at}` : 'no events yet';
}

// Every column a VM table can show; an absent value is an empty cell.
export const VM_COLUMNS = {
  name: { header: 'NAME', cell: (vm) => vm.name },
  role: { header: 'ROLE', cell: (vm) => vm.role },
  launch: { header: 'LAUNCH', cell: (vm) => vm.launch },
  state: { header: 'STATE', cell: (vm) => vm.state },
  pid: { header: 'PID', cell: (vm) => (vm.pid ? String(vm.pid) : '') },
  since: { header: 'SINCE', cell: (vm) => vm.startedAt ?? '' },
  health: { header: 'HEALTH', cell: healthOf },
} satisfies Record<string, Column<VmView>>;

// Every column a checkpoint table can show; an absent value is an empty cell.
export const CHECKPOINT_COLUMNS = {
  id: { header: 'ID', cell: (c) => c.id },
  parent: { header: 'PARENT', cell: (c) => c.parent ?? '' },
  label: { header: 'LABEL', cell: (c) => c.label ?? '' },
  created: { header: 'CREATED', cell: (c) => c.createdAt },
  sizeKiB: { header: 'SIZE', cell: (c) => `${Math.ceil(c.sizeBytes / 1024)} KiB` },
  sizeBytes: { header: 'SIZE', cell: (c) => String(c.sizeBytes) },
  flags: {
    header: 'FLAGS',
    cell: (c) => [c.current ? 'current' : '', c.pinned ? 'pinned' : ''].filter(Boolean).join(','),
  },
} satisfies Record<string, Column<CheckpointView>>;
