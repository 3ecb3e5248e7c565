import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QmpClient } from '../qmp/client.ts';
import { watchQmpLiveness } from './qmp-liveness.ts';

test('a QEMU that answers is left alone; the same QEMU stopped with SIGSTOP is reported hung within its timeout', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-liveness-'));
  const socket = join(dir, 'qmp.sock');
  const qemu = spawn(
    'qemu-system-x86_64',
    ['-machine', 'none', '-display', 'none', '-nodefaults', '-qmp', `unix:${socket},server=on,wait=off`],
    { stdio: 'ignore' },
  );
  try {
    const qmp = await QmpClient.connect(socket, { timeoutMs: 10_000 });
    const hung: Array<{ reason: string; at: number }> = [];
    const watch = watchQmpLiveness(qmp, {
      timeoutMs: 1500,
      intervalMs: 200,
      onHung: (reason) => hung.push({ reason, at: Date.now() }),
    });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal(hung, [], 'an answering QEMU is not hung');
    qemu.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.is(hung.length, 1, 'reported once');
    assert.match(hung[0]!.reason, /QEMU stopped answering: no reply to a QMP status query within 1.5 s/);
    assert.ok(hung[0]!.at - stoppedAt < 1500 + 200 + 500, `caught after ${hung[0]!.at - stoppedAt} ms`);
    watch.stop();
    qemu.kill('SIGCONT');
    qmp.close();
  } finally {
    qemu.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('a closed connection is not called a hang (the process watch names an exit)', async () => {
  const hung: string[] = [];
  const closed = { execute: async () => Promise.reject(new Error('QMP query-status: the connection is closed')) };
  const watch = watchQmpLiveness(closed, { timeoutMs: 300, intervalMs: 50, onHung: (reason) => hung.push(reason) });
  await new Promise((resolve) => setTimeout(resolve, 300));
  watch.stop();
  assert.equal(hung, []);
});

test.run();
