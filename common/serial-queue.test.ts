import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SerialQueue } from './serial-queue.ts';

async function rejection(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: Error) => error.message,
  );
}

test('jobs run one at a time, in the order given, each seeing the one before finished', async () => {
  const queue = new SerialQueue();
  const events: string[] = [];
  const job = (name: string, ms: number) => async () => {
    events.push(`start ${name}`);
    await sleep(ms);
    events.push(`end ${name}`);
    return name;
  };
  const results = await Promise.all([queue.run(job('a', 20)), queue.run(job('b', 1)), queue.run(job('c', 5))]);
  assert.equal(results, ['a', 'b', 'c']);
  assert.equal(events, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
});

test('a failing job rejects its own caller only: the next job still runs', async () => {
  const queue = new SerialQueue();
  const failed = queue.run(async () => {
    throw new Error('broken');
  });
  const next = queue.run(async () => 'ran');
  assert.is(await rejection(failed), 'broken');
  assert.is(await next, 'ran');
});

test('a job that throws before awaiting anything does not poison the queue either', async () => {
  const queue = new SerialQueue();
  const failed = queue.run((() => {
    throw new Error('at once');
  }) as () => Promise<void>);
  assert.is(await rejection(failed), 'at once');
  assert.is(await queue.run(async () => 1), 1);
});

test('settled() waits for the jobs given so far, not for later ones, and queues nothing', async () => {
  const queue = new SerialQueue();
  let first = false;
  let second = false;
  void queue.run(async () => {
    await sleep(10);
    first = true;
  });
  const settled = queue.settled().then(() => second);
  void queue.run(async () => {
    await sleep(30);
    second = true;
  });
  assert.is(await settled, false);
  assert.ok(first);
});

test('settled() resolves even when the last job failed', async () => {
  const queue = new SerialQueue();
  queue
    .run(async () => {
      throw new Error('x');
    })
    .catch(() => undefined);
  await queue.settled();
});

test('idle says whether any job is waiting or running', async () => {
  const queue = new SerialQueue();
  assert.ok(queue.idle);
  const job = queue.run(() => sleep(5));
  assert.not.ok(queue.idle);
  await job;
  assert.ok(queue.idle);
});

test.run();
