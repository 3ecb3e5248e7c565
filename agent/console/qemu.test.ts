// A real QEMU guest that prints without pause, its serial port wired as the agent wires it: the files stay under the
// caps.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { qemuArgv } from '../../common/qemu/argv.ts';
import { consoleFiles, openConsole } from './reader.ts';

const QEMU = 'qemu-system-x86_64';
const LINE = 'MVOS-FLOOD 0123456789abcdefghijklmnopqrstuvwxyz';

// A multiboot image (loaded by QEMU's -kernel) that writes LINE to COM1 forever.
function floodKernel(): Buffer {
  const load = 0x10_0000;
  const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  const text = load + 32 + 20;
  // cld; mov dx,0x3f8; again: mov esi,text; next: lodsb; test al,al; jz +3; out dx,al; jmp next; jmp again
  const code = [
    0xfc,
    0x66,
    0xba,
    0xf8,
    0x03,
    0xbe,
    ...u32(text),
    0xac,
    0x84,
    0xc0,
    0x74,
    0x03,
    0xee,
    0xeb,
    0xf8,
    0xeb,
    0xf1,
  ];
  const magic = 0x1bad_b002;
  const flags = 0x0001_0000;
  const header = [magic, flags, -(magic + flags) >>> 0, load, load, 0, 0, load + 32].flatMap(u32);
  return Buffer.concat([Buffer.from([...header, ...code]), Buffer.from(`${LINE}\n\0`, 'latin1')]);
}

const haveQemu = spawnSync(QEMU, ['--version']).status === 0;

test('a guest flooding its serial console under QEMU: log and spool stay under their caps, the reader keeps up', async () => {
  if (!haveQemu) return console.log(`  skipped: no ${QEMU}`);
  const dir = await mkdtemp(join(tmpdir(), 'mvos-qemu-console-'));
  const kernel = join(dir, 'flood.bin');
  await writeFile(kernel, floodKernel());
  const files = consoleFiles({ dir, serialLog: join(dir, 'serial.log') });
  const capBytes = 128 * 1024;
  const argv = qemuArgv({
    machine: 'q35',
    accel: 'tcg',
    cpus: 1,
    memoryMiB: 64,
    kernel,
    serial: { socket: join(dir, 'console.sock'), logfile: files.spool },
    noReboot: true,
  });
  const qemu = spawn(QEMU, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  const feed = openConsole(files, { capBytes, softBytes: 16 * 1024, hardBytes: 64 * 1024, pollMs: 20 });
  let received = '';
  let bytes = 0;
  let torn = 0;
  let lines = 0;
  feed.subscribe((chunk) => {
    bytes += chunk.length;
    received += chunk.toString('latin1');
    const parts = received.split('\n');
    received = parts.pop()!;
    for (const line of parts) {
      lines++;
      if (line !== LINE) torn++;
    }
  });
  try {
    let largest = 0;
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      const sizes = await Promise.all(
        (await readdir(dir))
          .filter((n) => n !== 'flood.bin')
          .map((n) =>
            stat(join(dir, n)).then(
              (s) => s.size,
              () => 0,
            ),
          ),
      );
      largest = Math.max(
        largest,
        sizes.reduce((a, b) => a + b, 0),
      );
      await sleep(20);
    }
    console.log(
      `  ${(bytes / 1024).toFixed(0)} KiB from the guest in 5 s; the VM's files peaked at ${(largest / 1024).toFixed(0)} KiB; ${torn} of ${lines} lines torn`,
    );
    assert.ok(bytes > 4 * capBytes, `the guest printed only ${bytes} bytes`);
    // Two log files of the cap, the spool's hard limit, and what the guest adds between two looks.
    assert.ok(largest <= 2 * capBytes + 64 * 1024 + 128 * 1024, `the VM's files reached ${largest} bytes`);
    // The first line may start mid-way (QEMU's first bytes race the first look); truncations while it prints may cut
    // one.
    assert.ok(torn <= 2 + lines / 1000, `${torn} of ${lines} lines torn`);
  } finally {
    qemu.kill('SIGKILL');
    await new Promise((resolve) => qemu.once('exit', resolve));
    await feed.release();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
