// Power cuts while an update is written: a host on a good v2 (slot b) takes a push of v3, and QEMU is killed at twelve
// moments: two while the bundle is received and checked, ten spread over the write of the slot (from its first byte to
// just after the slot was named for its try); every time, the next boots come back to v2 by themselves (sometimes
// through one try of v3, which fails its gate), and status says slot b holds 0.2.0, good and the boot slot.

import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  agentReady,
  buildUpdateImages,
  ConsoleHost,
  freshMachine,
  machineDisks,
  type UpdateImages,
} from '../../lib/update-lab.ts';

const MOMENTS = 12;
const dir = mkdtempSync(join(tmpdir(), 'mvos-qa-027-'));
let lab: UpdateImages;
let host: ConsoleHost | undefined;
// When, after the command, a push of v3 starts writing the slot and when it has named the slot for its try (measured
// once).
const push = { writingMs: 0, writtenMs: 0 };

const disks = { ...machineDisks(dir), goodDisk: join(dir, 'good.raw'), goodState: join(dir, 'good-state.img') };

test.before(() => {
  lab = buildUpdateImages(dir);
});

test.after(async () => {
  await host?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// Boots the copies of the disks and mounts the disk of bundles; resolves once the agent of `version` is ready.
async function boot(name: string, version: string, timeoutS = 420): Promise<ConsoleHost> {
  return mount(await ConsoleHost.start(name, disks.disk, disks.state, [disks.files]), version, timeoutS);
}

async function mount(machine: ConsoleHost, version: string, timeoutS = 420): Promise<ConsoleHost> {
  await machine.waitFor(agentReady(version), timeoutS);
  const mounted = await machine.command('mkdir -p /tmp/b && mount -o ro /dev/vdb /tmp/b');
  assert.is(mounted.status, 0, mounted.output);
  return machine;
}

test('a good v2 host to start from, and how long a push of v3 takes', async () => {
  host = await mount(
    await freshMachine('027-prepare', lab.images.v1, dir, 'BUNDLES', {
      'v2.mvu': lab.bundles.v2,
      'v3.mvu': lab.bundles.v3,
    }),
    '0.1.0',
  );
  const since = host.now;
  host.type('mvos update push /tmp/b/v2.mvu');
  await host.waitFor('update: 0.2.0 in slot b passed its health gate and is kept', 600, since);
  const off = await host.command('sync');
  assert.is(off.status, 0);
  await host.stop();
  copyFileSync(disks.disk, disks.goodDisk);
  copyFileSync(disks.state, disks.goodState);
  host = await boot('027-measure', '0.2.0');
  const start = host.now;
  host.type('mvos update push --no-reboot /tmp/b/v3.mvu');
  const writing = await host.waitFor('update: writing 0.3.0 to slot a', 300, start);
  const written = await host.waitFor('0.3.0 written to slot a; the next boot tries it once', 300, start);
  push.writingMs = writing - start;
  push.writtenMs = written - start;
  console.log(
    `  a push of v3: ${(push.writingMs / 1000).toFixed(1)} s receiving and checking, then ${((written - writing) / 1000).toFixed(1)} s writing the slot and naming the try`,
  );
  await host.stop();
  host = undefined;
});

test(`${MOMENTS} power cuts during the write of v3: v2 is still good every time`, async () => {
  for (let i = 0; i < MOMENTS; i++) {
    copyFileSync(disks.goodDisk, disks.disk);
    copyFileSync(disks.goodState, disks.state);
    // Two moments while the bundle is received and checked, the rest spread over the write of the slot and a little past
    // it (the moments just after the flip count too).
    const write = push.writtenMs - push.writingMs;
    const cutMs = Math.round(
      i < 2
        ? push.writingMs * (0.3 + 0.4 * i + 0.2 * Math.random())
        : push.writingMs + ((i - 2 + Math.random()) / (MOMENTS - 2)) * write * 1.15,
    );
    host = await boot(`027-cut-${i}`, '0.2.0');
    const start = host.now;
    host.type('mvos update push --no-reboot /tmp/b/v3.mvu');
    await sleep(cutMs);
    const seen = host.run.outputSince(start);
    await host.kill();
    const phase = /written to slot a/.test(seen)
      ? 'after the flip'
      : /writing 0\.3\.0/.test(seen)
        ? 'writing'
        : 'receiving';
    // The next boot: v2 again, through one try of v3 when the cut came after the flip.
    host = await ConsoleHost.start(`027-after-${i}`, disks.disk, disks.state, [disks.files]);
    const tried = phase === 'after the flip';
    if (tried) await host.waitFor('update: 0.3.0 in slot a failed', 300);
    await host.waitFor(agentReady('0.2.0'), 420);
    const status = await host.command('mvos update status');
    assert.match(status.output, /slot b\s+0\.2\.0\s+good\s+booted, boot slot/, `cut ${i} at ${cutMs} ms (${phase})`);
    const a = /slot a\s+(\S+)\s+(\S+)/.exec(status.output);
    console.log(`  cut ${i + 1} at ${(cutMs / 1000).toFixed(1)} s (${phase}): back on v2; slot a ${a?.[1]} ${a?.[2]}`);
    await host.stop();
    host = undefined;
  }
});

test.run();
