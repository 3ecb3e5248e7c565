import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type EscapeAction, EscapeScanner } from './console-escape.ts';

function show(actions: EscapeAction[]): string[] {
  return actions.map((a) => (a.kind === 'send' ? `send ${JSON.stringify(a.data.toString('latin1'))}` : a.kind));
}

test('~. after Enter or at the start leaves; a ~ inside a line is sent as it is', () => {
  assert.equal(show(new EscapeScanner().feed(Buffer.from('~.'))), ['leave']);
  assert.equal(show(new EscapeScanner().feed(Buffer.from('ls ~.\r~.'))), ['send "ls ~.\\r"', 'leave']);
  assert.equal(show(new EscapeScanner().feed(Buffer.from('a\n~?~!'))), ['send "a\\n"', 'help', 'take']);
});

test('~~ sends one ~, ~x sends both, and an escape split across chunks still counts', () => {
  const s = new EscapeScanner();
  assert.equal(show(s.feed(Buffer.from('~~/x\r~x'))), ['send "~/x\\r~x"']);
  const t = new EscapeScanner();
  assert.equal(show(t.feed(Buffer.from('echo\r~'))), ['send "echo\\r"']);
  assert.equal(show(t.feed(Buffer.from('.'))), ['leave']);
  assert.equal(
    show(new EscapeScanner().feed(Buffer.from('\x03\x1d'))),
    ['send "\\u0003\\u001d"'],
    'Ctrl-C and Ctrl-] go to the guest',
  );
});

test.run();
