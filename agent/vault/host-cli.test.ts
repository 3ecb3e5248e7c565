// The host console's line reader: a passphrase in UTF-8 with backspaces as a terminal sends them, Ctrl-C and an
// endless line give nothing, the end of input ends the line.
import { PassThrough } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readLine } from './host-cli.ts';

function reader(...chunks: Array<string | Buffer>): Promise<string | undefined> {
  const input = new PassThrough() as unknown as NodeJS.ReadStream;
  const prompts: string[] = [];
  const line = readLine(input, (t) => prompts.push(t), 'vault passphrase: ', true);
  for (const chunk of chunks) (input as unknown as PassThrough).write(chunk);
  return line.then((value) => {
    assert.equal(prompts, ['vault passphrase: ', '\n']);
    return value;
  });
}

test('UTF-8 and backspaces as a terminal sends them; the line ends at Enter', async () => {
  assert.is(await reader('pässw', Buffer.from([0x7f]), 'ört!\r', 'after'), 'pässört!');
  assert.is(await reader('gänse', Buffer.from([0x08, 0x08]), 'ß\n'), 'gänß');
});

test('Ctrl-C, Ctrl-D and an endless line give nothing', async () => {
  assert.is(await reader('secret', Buffer.from([0x03]), '\r'), undefined);
  assert.is(await reader(Buffer.from([0x04])), undefined);
  assert.is(await reader('x'.repeat(2000), '\n'), undefined);
});

test.run();
