// A status document is read only when it has a status's shape: what a host publishes is not trusted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AgentStatus } from '../api-types.ts';
import { fleetStatus, isFleetStatus, printable } from './status.ts';

const agent = {
  host: { name: 'lab-host', version: '1.0.0' },
  state: 'ready',
  startedAt: '2026-12-07T00:00:00.000Z',
  accel: 'kvm',
  rescue: { active: false },
  warnings: ['TCG'],
  update: { booted: 'b' },
  vms: [{ name: 'controller', role: 'controller', state: 'failed', failure: { reason: 'panic', at: 'x' } }],
} as unknown as AgentStatus;

test("made from the agent's status, under the fleet id; bad shapes refused", () => {
  const doc = fleetStatus(agent, 'lab-1', new Date('2026-12-07T01:00:00Z'));
  assert.equal(doc, {
    host: 'lab-1',
    name: 'lab-host',
    version: '1.0.0',
    slot: 'b',
    agent: { state: 'ready', since: '2026-12-07T00:00:00.000Z', accel: 'kvm' },
    rescue: { active: false },
    vms: [{ name: 'controller', role: 'controller', state: 'failed', failure: 'panic' }],
    warnings: ['TCG'],
    publishedAt: '2026-12-07T01:00:00.000Z',
  });
  assert.ok(isFleetStatus(JSON.parse(JSON.stringify(doc))));
  for (const bad of [
    null,
    'x',
    { ...doc, vms: 'none' },
    { ...doc, host: 7 },
    { ...doc, warnings: [{}] },
    { host: 'h' },
  ])
    assert.not.ok(isFleetStatus(bad), JSON.stringify(bad));
  assert.not.ok(isFleetStatus({ ...doc, vms: Array.from({ length: 1001 }, () => doc.vms[0]) }), 'bounded');
});

test("a guest's text reaches an operator's terminal without its escape sequences", () => {
  const hostile = {
    ...agent,
    vms: [{ ...agent.vms[0]!, failure: { reason: 'disk\u001b[2J\u001b]0;pwned\u0007 gone\r\n', at: 'x' } }],
  } as AgentStatus;
  assert.is(fleetStatus(hostile, 'lab-1', new Date()).vms[0]!.failure, 'disk [2J ]0;pwned  gone  ');
  assert.is(printable('x'.repeat(900), 500).length, 500);
});

test.run();
