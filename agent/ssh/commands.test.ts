import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCommand } from './commands.ts';

const vms = ['controller', 'rescue', 'web'];

test('the command set parses, with VM names matched against the host', () => {
  const cases: Array<[string, unknown]> = [
    ['help', { kind: 'help' }],
    ['status', { kind: 'status' }],
    ['  status  ', { kind: 'status' }],
    ['vm list', { kind: 'vm-list' }],
    ['vm start web', { kind: 'vm', action: 'start', vm: 'web' }],
    ['vm stop  controller', { kind: 'vm', action: 'stop', vm: 'controller' }],
    ['vm status web', { kind: 'vm', action: 'status', vm: 'web' }],
    ['vm logs rescue', { kind: 'vm', action: 'logs', vm: 'rescue' }],
    ['checkpoint list web', { kind: 'checkpoint-list', vm: 'web' }],
    ['checkpoint create web', { kind: 'checkpoint-create', vm: 'web' }],
    ['checkpoint create web before-upgrade', { kind: 'checkpoint-create', vm: 'web', label: 'before-upgrade' }],
    ['checkpoint rollback web cp1', { kind: 'checkpoint-rollback', vm: 'web', id: 'cp1' }],
    ['rescue', { kind: 'rescue' }],
    ['console web', { kind: 'console', vm: 'web' }],
    ['net list', { kind: 'net-list' }],
    ['net status', { kind: 'net-status' }],
    ['net web', { kind: 'net-vm', vm: 'web' }],
  ];
  for (const [raw, command] of cases) assert.equal(parseCommand(raw, vms), { ok: true, command }, raw);
});

test('shell syntax, paths, long words, unknown commands and unknown VMs are refused with a reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['status; reboot', /";" is shell syntax/],
    ['status && reboot', /"&" is shell syntax/],
    ['status || reboot', /"\|" is shell syntax/],
    ['vm start $(reboot)', /"\$" is shell syntax/],
    ['vm start `reboot`', /"`" is shell syntax/],
    ['vm logs web > /etc/passwd', /">" is shell syntax/],
    ['vm logs web < x', /"<" is shell syntax/],
    ['vm start (web)', /"\(" is shell syntax/],
    ['status\nreboot', /"\\n" is shell syntax/],
    ["vm start 'web'", /"'" is shell syntax/],
    ['vm start "web"', /"\\"" is shell syntax/],
    ['vm start web\\', /"\\\\" is shell syntax/],
    ['vm start\tweb', /"\\t" is shell syntax/],
    ['vm logs ../../etc/passwd', /paths are not accepted/],
    ['vm logs ..', /paths are not accepted/],
    ['vm logs /etc/shadow', /paths are not accepted/],
    [`vm start ${'a'.repeat(65)}`, /longer than 64/],
    [`status ${'a '.repeat(200)}`, /longer than 256/],
    ['vm start wéb', /characters other than/],
    ['bash', /unknown command `bash`/],
    ['sh -c status', /unknown command `sh -c`/],
    ['vm destroy web', /unknown command `vm destroy`/],
    ['vm', /unknown command `vm`/],
    ['', /no command given/],
    ['   ', /no command given/],
    ['vm start', /needs more arguments/],
    ['vm start web now', /`vm start` takes at most 1 argument/],
    ['status now', /`status` takes no arguments/],
    ['vm list all', /`vm list` takes no arguments/],
    ['checkpoint create web a b', /at most 2 arguments/],
    ['vm start db', /no VM named "db"/],
    ['console db', /no VM named "db"/],
    ['checkpoint rollback web', /needs more arguments/],
    ['checkpoint create db x', /no VM named "db"/],
  ];
  for (const [raw, message] of cases) {
    const result = parseCommand(raw, vms);
    assert.is(result.ok, false, raw);
    if (!result.ok) {
      assert.match(result.message, /^refused: /);
      assert.match(result.message, message, raw);
    }
  }
});

test.run();
