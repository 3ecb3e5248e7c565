import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ConsoleOptions, consoleFiles, openConsole } from './reader.ts';

const fast: ConsoleOptions = { pollMs: 20, idleMs: 60 };

async function vmDir(): Promise<{ dir: string; spool: string; files: ReturnType<typeof consoleFiles> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-reader-'));
  const spool = join(dir, 'serial.log');
  return { dir, spool, files: consoleFiles({ dir, serialLog: spool }) };
}

function collect(): {
  chunks: Buffer[];
  ends: number[];
  text: () => string;
  listener: (chunk: Buffer, end: number) => void;
} {
  const chunks: Buffer[] = [];
  const ends: number[] = [];
  return {
    chunks,
    ends,
    text: () => Buffer.concat(chunks).toString(),
    listener: (chunk, end) => {
      chunks.push(chunk);
      ends.push(end);
    },
  };
}

test('a subscriber from an offset gets what the log holds from there, then live output; one without gets only what comes next', async () => {
  const { dir, spool, files } = await vmDir();
  const feed = openConsole(files, fast);
  try {
    await writeFile(spool, 'line one\nline two\n');
    await sleep(100);
    const replay = collect();
    const live = collect();
    feed.subscribe(replay.listener, { from: 5 });
    feed.subscribe(live.listener);
    await sleep(60);
    await appendFile(spool, 'line three\n');
    await sleep(100);
    assert.is(replay.text(), 'one\nline two\nline three\n');
    assert.is(live.text(), 'line three\n');
    assert.is(live.ends.at(-1), 29, 'ends are stream offsets');
    assert.is(await readFile(files.log, 'utf8'), 'line one\nline two\nline three\n', 'the log holds it all');
  } finally {
    await feed.release();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a subscriber with `back` gets that many bytes before the end (logged or still in the spool), then live output', async () => {
  const { dir, spool, files } = await vmDir();
  const feed = openConsole(files, fast);
  try {
    await writeFile(spool, 'line one\nline two\n');
    await sleep(100);
    await appendFile(spool, 'tail\n');
    const back = collect();
    feed.subscribe(back.listener, { back: 14 });
    await sleep(100);
    await appendFile(spool, 'live\n');
    await sleep(100);
    assert.is(back.text(), 'line two\ntail\nlive\n');
  } finally {
    await feed.release();
    await rm(dir, { recursive: true, force: true });
  }
});

test('opened again (a restarted agent), the reader goes on from its saved place: nothing logged twice, the output from while none read arrives', async () => {
  const { dir, spool, files } = await vmDir();
  try {
    const first = openConsole(files, fast);
    await writeFile(spool, 'before the restart\n');
    await sleep(100);
    await first.release();
    await sleep(50);
    await appendFile(spool, 'while no agent ran\n');
    const again = openConsole(files, fast);
    const watch = collect();
    again.subscribe(watch.listener, { from: 7 });
    await sleep(100);
    await again.release();
    assert.is(watch.text(), 'the restart\nwhile no agent ran\n');
    // And once more: the position saved by a reader that was itself restored moves on too.
    await appendFile(spool, 'after the second restart\n');
    const third = openConsole(files, fast);
    await sleep(100);
    await third.release();
    assert.is(await readFile(files.log, 'utf8'), 'before the restart\nwhile no agent ran\nafter the second restart\n');
    assert.equal(JSON.parse(await readFile(files.state, 'utf8')), {
      ...JSON.parse(await readFile(files.state, 'utf8')),
      spool: 63,
      end: 63,
      base: 0,
      base1: null,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a new QEMU run (its spool file replaced) starts the log and the offsets over: a replay from 0 never gives the old run', async () => {
  const { dir, spool, files } = await vmDir();
  const feed = openConsole(files, fast);
  try {
    const viewer = collect();
    feed.subscribe(viewer.listener);
    await sleep(60);
    await appendFile(spool, 'old run: MVOS-GUEST-READY\n');
    await sleep(100);
    // The supervisor removes the spool before a launch; the new QEMU creates it again.
    await rm(spool);
    await writeFile(spool, 'new run\n');
    const watch = collect();
    feed.subscribe(watch.listener, { from: 0 });
    await sleep(100);
    assert.is(watch.text(), 'new run\n');
    assert.equal(watch.ends, [8]);
    assert.is(viewer.text(), 'old run: MVOS-GUEST-READY\nnew run\n', 'a viewer follows from one run into the next');
    assert.is(await readFile(files.log, 'utf8'), 'new run\n');
  } finally {
    await feed.release();
    await rm(dir, { recursive: true, force: true });
  }
});

test('tails are read by seeking across the rotated file, the log and what the spool holds unread, never more than the log keeps', async () => {
  const { dir, spool, files } = await vmDir();
  const feed = openConsole(files, { ...fast, capBytes: 100 });
  try {
    const text = Array.from({ length: 30 }, (_, i) => `line ${String(i).padStart(3, '0')}\n`).join('');
    await writeFile(spool, text);
    await sleep(100);
    assert.is((await feed.tail(30)).toString(), text.slice(-30));
    // 270 bytes through files of 100: the rotated file holds [100, 200), the current one [200, 270).
    assert.is((await feed.tail()).toString(), text.slice(100), 'all the log keeps');
    assert.is((await feed.tail(10_000)).length, 170);
    await appendFile(spool, 'not read yet\n');
    assert.is(
      (await feed.tail(20)).toString(),
      `${text}not read yet\n`.slice(-20),
      'the newest bytes, still in the spool',
    );
  } finally {
    await feed.release();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the spool is emptied once read: past its soft limit when the guest is quiet, past its hard limit while the guest keeps writing', async () => {
  const { dir, spool, files } = await vmDir();
  const feed = openConsole(files, { ...fast, softBytes: 1024, hardBytes: 16 * 1024, capBytes: 64 * 1024 });
  const got = collect();
  feed.subscribe(got.listener);
  try {
    await sleep(60);
    await appendFile(spool, `${'x'.repeat(2047)}\n`);
    await sleep(200);
    assert.is((await stat(spool)).size, 0, 'quiet after 2 KiB: emptied');
    // A guest that never pauses: numbered lines from another process, one write each as QEMU writes, 2 MiB of them.
    const script = `const fs=require('fs');const fd=fs.openSync(process.argv[1],'a');let i=0;const t=setInterval(()=>{for(let k=0;k<200;k++)fs.writeSync(fd,'line '+String(i++).padStart(8,'0')+'\\n');if(i>=140000){clearInterval(t);process.exit(0)}},1)`;
    const writer = spawn(process.execPath, ['-e', script, spool], { stdio: 'inherit' });
    let exited = false;
    writer.on('exit', () => (exited = true));
    let largest = 0;
    while (!exited) {
      largest = Math.max(
        largest,
        await stat(spool).then(
          (s) => s.size,
          () => 0,
        ),
      );
      await sleep(5);
    }
    await sleep(300);
    assert.ok(
      largest < 1024 * 1024,
      `the spool reached ${largest} bytes (hard limit 16 KiB, the writer goes on meanwhile)`,
    );
    const numbers = got
      .text()
      .split('\n')
      .slice(1)
      .filter((line) => /^line \d{8}$/.test(line))
      .map((line) => Number(line.slice(5)));
    assert.ok(
      numbers.every((n, i) => i === 0 || n > numbers[i - 1]!),
      'in order, none twice',
    );
    const lost = 140000 - numbers.length;
    console.log(`  lost ${lost} of 140000 lines; spool peak ${largest} bytes`);
    // Emptying while the guest writes can drop (or cut) what lands in the microseconds of the truncation: about a line
    // each time here (16 KiB limit); with the default 1 MiB, about a line per MiB of a guest that never pauses.
    assert.ok(lost <= 1400, `${lost} of 140000 lines lost`);
  } finally {
    await feed.release();
    await rm(dir, { recursive: true, force: true });
  }
});

test('one reader per VM: handles share it, and each new byte is read from the spool once', async () => {
  const { dir, spool, files } = await vmDir();
  const feeds = [openConsole(files, fast), openConsole(files, fast), openConsole(files, fast)];
  try {
    const all = feeds.map(() => collect());
    for (const [i, feed] of feeds.entries()) feed.subscribe(all[i]!.listener);
    await sleep(60);
    await appendFile(spool, 'shared\n');
    await sleep(100);
    for (const got of all) assert.is(got.text(), 'shared\n');
    await feeds[0]!.release();
    await feeds[1]!.release();
    await appendFile(spool, 'still read\n');
    await sleep(100);
    assert.is(all[2]!.text(), 'shared\nstill read\n');
    assert.is(all[0]!.text(), 'shared\n', 'a released handle gets nothing more');
  } finally {
    for (const feed of feeds) await feed.release();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
