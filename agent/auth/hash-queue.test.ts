import { readFile } from 'node:fs/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hashPassword, verifyPassword } from '../../common/secrets/password.ts';
import { HashQueue } from './hash-queue.ts';

test('at most `concurrency` run at once; beyond `depth` waiting, a task is refused at once and never run', async () => {
  const queue = new HashQueue({ concurrency: 2, depth: 3 });
  let running = 0;
  let most = 0;
  let started = 0;
  const task = async (): Promise<number> => {
    started += 1;
    running += 1;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 20));
    running -= 1;
    return started;
  };
  const runs = Array.from({ length: 10 }, () => queue.tryRun(task));
  assert.is(runs.filter((r) => r === undefined).length, 5, '2 running + 3 waiting, the other 5 refused');
  assert.ok(queue.retryAfterMs() >= 1000, 'a refusal says when to come back (whole seconds, at least 1)');
  await Promise.all(runs);
  assert.is(started, 5, 'refused tasks never ran');
  assert.is(most, 2);
  assert.ok(queue.tryRun(task), 'room again once drained');
});

test('a failing task frees its slot and rejects only its own caller', async () => {
  const queue = new HashQueue({ concurrency: 1, depth: 1 });
  const failing = queue.tryRun(() => Promise.reject(new Error('boom')))!;
  const next = queue.tryRun(async () => 'ok')!;
  await failing.then(
    () => assert.unreachable(),
    (error: Error) => assert.is(error.message, 'boom'),
  );
  assert.is(await next, 'ok');
});

test('scrypt through the queue leaves the libuv pool to file reads', async () => {
  const stored = await hashPassword('right');
  const queue = new HashQueue({ concurrency: 1, depth: 100 });
  const hashes = Array.from({ length: 10 }, () => queue.tryRun(() => verifyPassword(stored, 'wrong')));
  const started = Date.now();
  await readFile(new URL(import.meta.url));
  const readMs = Date.now() - started;
  await Promise.all(hashes);
  assert.ok(readMs < 500, `a file read took ${readMs} ms behind 10 queued hashes`);
});

test.run();
