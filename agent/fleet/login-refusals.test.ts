import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AuditEntry } from '../auth/audit.ts';
import { LoginRefusals } from './login-refusals.ts';

const refused = (who: string, action = 'keyboard-interactive', reason = 'bad-code'): AuditEntry => ({
  who,
  source: '192.0.2.9',
  action,
  result: 'refused',
  reason,
});

test('the first refused login is an event at once; the rest of the window one line with their count and the last', async () => {
  const events: string[] = [];
  const refusals = new LoginRefusals((kind, text) => events.push(`${kind}: ${text}`), 100);
  refusals.take(refused('alice'));
  assert.equal(events, ['login-refused: login refused: alice from 192.0.2.9 (bad-code)']);
  for (let i = 0; i < 500; i++) refusals.take(refused(`guess${i}`, 'login', 'bad-password'));
  assert.is(events.length, 1, 'a flood stays one line until the window ends');
  await sleep(150);
  assert.equal(
    events[1],
    'login-refused: 500 more logins refused in 0 s; the last: guess499 from 192.0.2.9 (bad-password)',
  );
  // A quiet window says nothing, and the next refusal is said at once again.
  await sleep(250);
  assert.is(events.length, 2);
  refusals.take(refused('bob', 'publickey', 'unknown-key'));
  assert.match(events[2]!, 'login refused: bob from 192.0.2.9 (unknown-key)');
  refusals.close();
});

test('what is not a refused login is no event: a refused command, a connection cap, an accepted login', () => {
  const events: string[] = [];
  const refusals = new LoginRefusals((_kind, text) => events.push(text), 100);
  refusals.take({ ...refused('alice'), action: 'vm stop', reason: 'not-allowed' });
  refusals.take({ who: '', source: '192.0.2.9', action: 'connect', result: 'refused', reason: 'too-many-connections' });
  refusals.take({ ...refused('alice', 'login'), result: 'ok' });
  assert.equal(events, []);
  refusals.close();
});

test.run();
