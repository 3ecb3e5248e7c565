import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PAUSED_QEMU } from '../disks/qemu-images.test-support.ts';
import { QmpClient, QmpError, type QmpEvent } from './client.ts';

let dir: string;
let qemu: ChildProcess | undefined;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mvos-qmp-'));
});

test.after(async () => {
  qemu?.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

test('a real QEMU (stopped, no guest): greeting, commands, errors, events and the close when it quits', async () => {
  const socket = join(dir, 'qmp.sock');
  // QEMU creates the socket a moment after it starts: connect() waits for it.
  qemu = spawn('qemu-system-x86_64', [...PAUSED_QEMU, '-smp', '2', '-qmp', `unix:${socket},server=on,wait=off`], {
    stdio: 'ignore',
  });
  const client = await QmpClient.connect(socket, { timeoutMs: 20_000 });
  assert.match(client.version, /^\d+\.\d+\.\d+$/);
  const cpus = await client.execute<Array<{ 'cpu-index': number; 'thread-id': number }>>('query-cpus-fast');
  assert.equal(
    cpus.map((c) => c['cpu-index']),
    [0, 1],
  );
  assert.ok(cpus.every((c) => c['thread-id'] > 0));
  const status = await client.execute<{ status: string; running: boolean }>('query-status');
  assert.is(status.running, false);
  try {
    await client.execute('no-such-command');
    assert.unreachable('QEMU refuses an unknown command');
  } catch (error) {
    assert.instance(error, QmpError);
    assert.is((error as QmpError).errorClass, 'CommandNotFound');
  }
  const events: string[] = [];
  client.on('event', (e: QmpEvent) => events.push(e.event));
  await client.execute('cont');
  const closed = new Promise((resolve) => client.once('close', resolve));
  await client.execute('quit');
  await closed;
  assert.ok(events.includes('RESUME'), `events seen: ${events.join(', ')}`);
  assert.ok(client.isClosed);
  await client.execute('query-status').then(
    () => assert.unreachable('a closed session refuses commands'),
    (error: Error) => assert.match(error.message, /closed/),
  );
});

test('a peer that never greets times out with the socket named', async () => {
  const path = join(dir, 'mute.sock');
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    await QmpClient.connect(path, { timeoutMs: 600 }).then(
      () => assert.unreachable('no greeting, no session'),
      (error: Error) => assert.match(error.message, /mute\.sock: no greeting/),
    );
  } finally {
    server.close();
  }
});

test('a socket that never appears is an error after the timeout', async () => {
  const started = Date.now();
  await QmpClient.connect(join(dir, 'absent.sock'), { timeoutMs: 400 }).then(
    () => assert.unreachable('nothing to connect to'),
    (error: NodeJS.ErrnoException) => assert.is(error.code, 'ENOENT'),
  );
  assert.ok(Date.now() - started >= 350);
});

test.run();
