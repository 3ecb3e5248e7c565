// The fleet's events from two statuses: a VM's state with its failure, the fall back to rescue and back, an update's
// verdict; nothing for the first status's VMs or for what did not change.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AgentStatus, VmView } from '../../common/api-types.ts';
import { statusEvents } from './events.ts';

const vm = (name: string, state: VmView['state'], failure?: string): VmView => ({
  name,
  role: 'controller',
  launch: 'vm',
  state,
  ephemeral: false,
  autostart: true,
  history: [],
  ...(failure ? { failure: { reason: failure, at: '2026-12-07T00:00:00Z' } } : {}),
});

const status = (vms: VmView[], rescue = false): AgentStatus =>
  ({
    host: { name: 'h', version: '1' },
    state: 'ready',
    rescue: rescue ? { active: true, reason: 'controller gave up' } : { active: false },
    vms,
    warnings: [],
  }) as unknown as AgentStatus;

test('changes become events; the first status and what did not change give none', () => {
  const first = status([vm('controller', 'starting'), vm('web', 'stopped')]);
  assert.equal(statusEvents(undefined, first), []);
  assert.equal(statusEvents(first, first), []);
  const failed = status(
    [vm('controller', 'failed', 'kernel panic'), vm('web', 'stopped'), vm('new', 'starting')],
    true,
  );
  assert.equal(statusEvents(first, failed), [
    { kind: 'vm-failed', text: 'controller starting → failed: kernel panic' },
    { kind: 'vm', text: 'new starting' },
    { kind: 'rescue', text: 'fell back to the rescue VM: controller gave up' },
  ]);
  assert.equal(statusEvents(failed, status([vm('controller', 'ready')])), [
    { kind: 'vm', text: 'controller failed → ready' },
    { kind: 'rescue', text: 'back from rescue' },
  ]);
});

test.run();
