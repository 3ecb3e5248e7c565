import { appendFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { withTempDir } from '../../common/temp-dir.ts';
import { CappedLog } from './log.ts';
import { consoleText } from './text.ts';

const bytes = (n: number, from = 0): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => 97 + ((from + i) % 26)));

test('appending rotates: neither file passes the cap, and reads by stream offset span both', () =>
  withTempDir('mvos-log-', async (dir) => {
    const log = new CappedLog(join(dir, 'console.log'), 100);
    await log.reset();
    for (let sent = 0; sent < 1000; sent += 70) await log.append(bytes(70, sent));
    assert.equal(log.place, { base: 1000, base1: 900, end: 1050 });
    assert.is((await stat(log.file)).size, 50);
    assert.is((await stat(log.rotated)).size, 100);
    assert.ok((await log.read(0, 2000)).equals(bytes(150, 900)), 'from the oldest byte kept on');
    assert.ok((await log.read(940, 960)).equals(bytes(20, 940)), 'across the two files');
    assert.ok((await log.read(1000, 1050)).equals(bytes(50, 1000)));
  }));

test('restore after a crash: bytes past the saved place go (the spool gives them again), also inside a rotation', () =>
  withTempDir('mvos-log-', async (dir) => {
    const file = join(dir, 'console.log');
    const log = new CappedLog(file, 100);
    await log.reset();
    await log.append(bytes(60));
    const saved = { ...log.place };
    await appendFile(file, 'written after the save');
    const again = new CappedLog(file, 100);
    await again.restore(saved);
    assert.equal(again.place, saved);
    assert.ok((await readFile(file)).equals(bytes(60)));
    // The agent died right after a rotation, before it saved the place that goes with it.
    let rotations = 0;
    await again.append(bytes(80, 60), async () => {
      rotations++;
    });
    assert.is(rotations, 1);
    const rotated = new CappedLog(file, 100);
    await rotated.restore(saved);
    assert.equal(rotated.place, { base: 60, base1: 0, end: 60 });
    assert.ok((await rotated.read(0, 100)).equals(bytes(60)), 'the saved bytes, from the rotated file');
    assert.is((await stat(file)).size, 0);
  }));

test('text of a tail cut inside a UTF-8 character starts at the next whole character', () => {
  const text = Buffer.from('àé ok');
  assert.is(consoleText(text.subarray(1)), 'é ok');
  assert.is(consoleText(Buffer.from('plain')), 'plain');
});

test.run();
