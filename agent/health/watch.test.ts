import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consoleFiles, openConsole } from '../console/reader.ts';
import { classifyLine, type HealthSignal, watchHealth } from './watch.ts';

test('lines: the ready marker, a failure the guest reports, a kernel panic, the heartbeat only on the channel', () => {
  assert.equal(classifyLine('MVOS-GUEST-READY\r', 'MVOS-GUEST-READY', 'serial console'), {
    kind: 'ready',
    source: 'serial console',
  });
  assert.equal(classifyLine('MVOS-GUEST-FAILED root disk unreadable', 'X', 'health channel'), {
    kind: 'failed',
    reason: 'the guest reported a failure on its health channel: root disk unreadable',
  });
  assert.equal(classifyLine('[    1.2] Kernel panic - not syncing: No working init found.', 'X', 'serial console'), {
    kind: 'failed',
    reason: 'guest kernel panic: No working init found.',
  });
  assert.equal(classifyLine('MVOS-GUEST-ALIVE', 'X', 'health channel'), { kind: 'alive' });
  assert.is(classifyLine('MVOS-GUEST-ALIVE', 'X', 'serial console'), undefined);
  assert.is(classifyLine('an ordinary line', 'MVOS-GUEST-READY', 'serial console'), undefined);
  assert.equal(classifyLine('MVOS-CONTAINER-EXIT 7', 'X', 'health channel'), { kind: 'exited', code: 7 });
  assert.is(
    classifyLine('MVOS-CONTAINER-EXIT 0', 'NEVER-SAID', 'serial console'),
    undefined,
    "a container's own output cannot fake its result",
  );
  assert.is(classifyLine('MVOS-CONTAINER-FAILED x', 'NEVER-SAID', 'serial console'), undefined);
});

test('the watch follows the console from an offset and the channel socket, reconnecting when the peer goes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-health-'));
  const serialLog = join(dir, 'serial.log');
  const healthSocket = join(dir, 'health.sock');
  // A marker already read by a previous agent (before the offset) must not count again.
  const old = 'MVOS-GUEST-READY (seen before)\n';
  await writeFile(serialLog, old);
  const peers: Socket[] = [];
  const server = createServer((socket) => peers.push(socket));
  await new Promise<void>((resolve) => server.listen(healthSocket, resolve));
  const signals: HealthSignal[] = [];
  const offsets: number[] = [];
  const console = openConsole(consoleFiles({ dir, serialLog }));
  const watch = watchHealth({
    console,
    healthSocket,
    marker: 'MVOS-GUEST-READY',
    offset: Buffer.byteLength(old),
    onSignal: (s) => signals.push(s),
    onOffset: (o) => offsets.push(o),
  });
  try {
    await sleep(500);
    assert.equal(signals, []);
    await appendFile(serialLog, 'booting\nMVOS-GUE');
    await sleep(400);
    assert.is(offsets.at(-1), Buffer.byteLength(`${old}booting\n`), 'the saved offset is that of the unfinished line');
    await appendFile(serialLog, 'ST-READY\n');
    await sleep(400);
    assert.equal(signals, [{ kind: 'ready', source: 'serial console' }]);
    peers[0]!.write('MVOS-GUEST-ALIVE\n');
    peers[0]!.destroy();
    await sleep(1200);
    assert.is(peers.length, 2, 'reconnected after the peer closed');
    peers[1]!.write('MVOS-GUEST-FAILED out of disk\n');
    await sleep(300);
    assert.equal(signals.slice(1), [
      { kind: 'alive' },
      { kind: 'failed', reason: 'the guest reported a failure on its health channel: out of disk' },
    ]);
  } finally {
    watch.stop();
    await console.release();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
