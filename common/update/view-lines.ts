// How a host's updates read as text: the CLI, the SSH jail and the host's own `mvos update status` print these lines.
import type { UpdateView } from '../api-types.ts';

// What a person reads of a host's updates.
export function updateLines(view: UpdateView): string[] {
  const lines = [`version  ${view.version}${view.booted ? ` (booted from slot ${view.booted})` : ''}`];
  if (!view.enabled) lines.push(`updates  off: ${view.why}`);
  for (const s of view.slots) {
    const marks = [s.booted ? 'booted' : '', s.bootSlot ? 'boot slot' : '', s.trying ? 'tried at the next boot' : '']
      .filter(Boolean)
      .join(', ');
    lines.push(
      `slot ${s.slot}   ${(s.version ?? '-').padEnd(12)} ${s.state.padEnd(10)} ${marks}${s.reason ? `\n         ${s.reason}` : ''}`,
    );
  }
  if (view.gate)
    lines.push(
      view.gate.passed
        ? `gate     ${view.gate.version} passed`
        : `gate     ${view.gate.version} waits for: ${view.gate.unmet.join('; ') || 'nothing'} (deadline ${view.gate.deadline} s after boot)`,
    );
  if (view.busy) lines.push(`busy     ${view.busy}`);
  for (const e of view.events.slice(-5))
    lines.push(
      `event    ${e.at.slice(0, 19)} ${e.event}${e.version ? ` ${e.version}` : ''}${e.slot ? ` (slot ${e.slot})` : ''}${e.by ? ` by ${e.by}` : ''}${e.detail ? `: ${e.detail}` : ''}`,
    );
  return lines;
}
