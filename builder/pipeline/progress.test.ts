import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createProgress, formatDuration, type ProgressOptions, remainingSeconds } from './progress.ts';

// A stream that records what is written, a terminal or not; the clock is moved by hand.
function fake(isTTY: boolean, columns = 120) {
  const chunks: string[] = [];
  const stream = { isTTY, columns, write: (chunk: string) => chunks.push(chunk) > 0 };
  const clock = { ms: 1_000_000 };
  const make = (quiet = false, options: ProgressOptions = {}) =>
    createProgress(stream as unknown as NodeJS.WritableStream, quiet, {
      now: () => clock.ms,
      tickMs: 0,
      color: true,
      ...options,
    });
  return { chunks, clock, make, text: () => chunks.join('') };
}

test('durations read as 42s, 2m10s, 1h05m', () => {
  assert.equal([0, 42.9, 60, 130, 3599, 3900].map(formatDuration), ['0s', '42s', '1m00s', '2m10s', '59m59s', '1h05m']);
});

test('time left: history early, the pace late, either alone when only one is known', () => {
  assert.is(remainingSeconds(10, undefined, undefined), undefined);
  assert.is(remainingSeconds(10, 0, undefined), undefined, 'nothing counted yet and no history');
  assert.is(remainingSeconds(10, undefined, 100), 90, 'no total: the last run minus the elapsed time');
  assert.is(remainingSeconds(120, undefined, 100), 0, 'past the last run: never negative');
  assert.is(remainingSeconds(30, 0.25, undefined), 90, 'no history: the pace so far');
  assert.is(remainingSeconds(10, 0, 100), 90, 'nothing counted: history alone');
  // A quarter done after 50 s when the last run took 100 s: history says 50 s, the pace 150 s.
  assert.is(remainingSeconds(50, 0.25, 100), 0.75 * 50 + 0.25 * 150);
  assert.is(remainingSeconds(200, 1, 100), 0, 'all counted: nothing left');
});

test('on a terminal the bar is redrawn in place with \\r, at most every 100 ms, and ends full on its own line', () => {
  const { chunks, clock, make, text } = fake(true);
  const task = make().start('kernel build guest-tiny', 200, { noun: 'objects', expectedSeconds: 200 });
  assert.is(chunks.length, 1, 'drawn at once');
  assert.ok(chunks[0]!.startsWith('\r['), JSON.stringify(chunks[0]));
  clock.ms += 60_000;
  task.advance(50, 'CC kernel/fork.o');
  const drawn = chunks.at(-1)!;
  assert.ok(drawn.startsWith('\r[######                  ]  25% kernel build guest-tiny: 50/200 objects'), drawn);
  assert.ok(drawn.includes('1m00s elapsed, ~2m30s left'), drawn);
  assert.ok(drawn.includes('  \x1b[2mCC kernel/fork.o\x1b[22m'), 'the last tool line, dimmed');
  assert.ok(drawn.endsWith('\x1b[K'), 'clears what a longer line left');
  const before = chunks.length;
  clock.ms += 50;
  task.advance(1);
  assert.is(chunks.length, before, 'no redraw within 100 ms');
  clock.ms += 100;
  task.advance(1);
  assert.is(chunks.length, before + 1);
  clock.ms += 30_000;
  task.done();
  assert.ok(
    text().endsWith('\r\x1b[K[########################] 100% kernel build guest-tiny: 52 objects, done in 1m30s\n'),
    JSON.stringify(text().slice(-120)),
  );
  assert.is(text().split('\n').length, 2, 'one line, ended once');
});

test('a task with no total shows its count and elapsed time, no percentage; more than last time stays below 100%', () => {
  const { chunks, clock, make } = fake(true);
  const progress = make();
  const first = progress.start('kernel build guest-tiny', undefined, { noun: 'objects' });
  clock.ms += 5000;
  first.advance(3120);
  assert.ok(chunks.at(-1)!.includes('kernel build guest-tiny: 3120 objects, 5s elapsed\x1b[K'), chunks.at(-1));
  assert.not.ok(chunks.at(-1)!.includes('%'));
  assert.ok(chunks.at(-1)!.includes('===='), 'a sliding block instead of a bar');
  first.abort();
  const over = progress.start('kernel build guest-tiny', 10, { noun: 'objects' });
  clock.ms += 1000;
  over.advance(11);
  assert.ok(chunks.at(-1)!.includes('[########################]  99% kernel build guest-tiny: 11/10 objects'));
});

test('a long line is cut to the terminal width; the note goes first', () => {
  const { chunks, clock, make } = fake(true, 60);
  const task = make().start('a step with a rather long label that goes on', 10, { noun: 'objects' });
  clock.ms += 1000;
  task.advance(1, 'CC kernel/fork.o');
  const line = chunks
    .at(-1)!
    .replace(/^\r/, '')
    .replace(/\x1b\[K$/, '');
  assert.is(line.length, 59);
  assert.ok(line.endsWith('…'));
  assert.not.ok(line.includes('fork'));
});

test('no terminal: a start line, a status line every 30 s at most, a done line', () => {
  const { clock, make, text } = fake(false);
  const task = make().start('kernel build guest-tiny', 5400, { noun: 'objects', expectedSeconds: 250 });
  for (let second = 1; second <= 130; second++) {
    clock.ms += 1000;
    task.advance(24, 'CC x.o');
  }
  task.done();
  assert.is(
    text(),
    [
      'kernel build guest-tiny (5400 objects, 4m10s last time)',
      'kernel build guest-tiny: 720/5400 objects, 30s elapsed, ~3m36s left',
      'kernel build guest-tiny: 1440/5400 objects, 1m00s elapsed, ~3m03s left',
      'kernel build guest-tiny: 2160/5400 objects, 1m30s elapsed, ~2m30s left',
      'kernel build guest-tiny: 2880/5400 objects, 2m00s elapsed, ~1m56s left',
      'kernel build guest-tiny: 3120 objects, done in 2m10s',
      '',
    ].join('\n'),
  );
  assert.not.ok(text().includes('\r'), 'never a carriage return');
  assert.not.ok(text().includes('\x1b'), 'never an escape sequence');
});

test('no terminal: a summary replaces the done line; an aborted task says nothing more', () => {
  const { clock, make, text } = fake(false);
  const progress = make();
  const fetch = progress.start('fetching 2 packages', 3 << 20, 'bytes');
  fetch.advance(3 << 20);
  fetch.done('fetched 2 packages (3.0 MiB)');
  const failed = progress.start('writing host outputs', 1 << 20, 'bytes');
  clock.ms += 2000;
  failed.abort();
  failed.done();
  assert.is(text(), 'fetching 2 packages (3.0 MiB)\nfetched 2 packages (3.0 MiB)\nwriting host outputs (1.0 MiB)\n');
});

test('a step inside a step: the inner one draws, the outer one comes back; a transient task leaves nothing', () => {
  const { clock, make, text } = fake(true);
  const progress = make();
  const stage = progress.start('stage kernel-source(guest-tiny)', undefined, { transient: true });
  progress.line('building kernel guest-tiny');
  const inner = progress.start('kernel build guest-tiny', undefined, { noun: 'objects' });
  clock.ms += 3000;
  inner.advance(7);
  inner.done();
  clock.ms += 1000;
  stage.abort();
  progress.line('stage kernel-source(guest-tiny): ran in 4.0 s (first build)');
  const screen = text()
    .split('\n')
    .map((row) =>
      row
        .split('\r')
        .at(-1)!
        .replace(/\x1b\[K/g, ''),
    );
  assert.equal(screen, [
    'building kernel guest-tiny',
    '[########################] 100% kernel build guest-tiny: 7 objects, done in 3s',
    'stage kernel-source(guest-tiny): ran in 4.0 s (first build)',
    '',
  ]);
  assert.ok(
    text().includes('stage kernel-source(guest-tiny): 3s elapsed'),
    'the stage was drawn again after the build',
  );
});

test('a line goes above the bar, through the caller when it gives a writer, and the bar is drawn again', () => {
  const { chunks, make } = fake(true);
  const progress = make();
  const task = progress.start('verifying inputs', 10);
  const written: string[] = [];
  progress.line('stage agent: running', (line) => written.push(line));
  assert.equal(written, ['stage agent: running']);
  assert.is(chunks.at(-2), '\r\x1b[K', 'the bar was cleared before the line');
  assert.ok(chunks.at(-1)!.startsWith('\r[') && chunks.at(-1)!.includes('verifying inputs'));
  task.done();
});

test('on a terminal the clock moves with no news', async () => {
  const { chunks, make } = fake(true);
  const task = make(false, { tickMs: 5, now: Date.now }).start('waiting for "READY"', undefined, { transient: true });
  await new Promise((resolve) => setTimeout(resolve, 60));
  task.abort();
  assert.ok(chunks.length > 3, `redrawn ${chunks.length} times`);
  assert.is(chunks.at(-1), '\r\x1b[K', 'erased at the end');
});

test('quiet (--json): nothing at all, terminal or not', () => {
  for (const tty of [true, false]) {
    const { chunks, clock, make } = fake(tty);
    const progress = make(true);
    const task = progress.start('kernel build guest-tiny', 10, { noun: 'objects' });
    clock.ms += 60_000;
    task.advance(5, 'CC x.o');
    progress.line('a log line');
    task.done('done');
    assert.equal(chunks, []);
  }
});

test.run();
