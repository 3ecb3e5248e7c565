import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type HoldingQemu,
  qemuIo,
  qemuIoInside,
  rawBase,
  startHoldingQemu,
} from '../disks/qemu-images.test-support.ts';
import { backingChain, checkImage } from '../disks/qemu-img.ts';
import { QmpClient } from '../qmp/client.ts';
import { imageFileOf } from './live.ts';
import { readManifest } from './manifest.ts';
import { CheckpointStore, vmDiskDir } from './store.ts';

const root = await mkdtemp(join(tmpdir(), 'mvos-checkpoint-crash-'));
const base = join(root, 'base.img');
await rawBase(base, 4 << 20, 0x11);
const child = fileURLToPath(new URL('./crash-child.test-support.ts', import.meta.url));
let counter = 0;

// What each checkpoint's own file must read (through its chain): the data written before it was taken.
const FROZEN: Record<string, Array<[number, string]>> = {
  '1': [[0x21, '0']],
  '2': [
    [0x21, '0'],
    [0x22, '64k'],
  ],
};

// 1 ← 2 ← top, with data in every layer; `branch` rolls back to 1 so that 2 becomes a leaf.
async function setup(branch: boolean): Promise<string> {
  const dir = vmDiskDir(join(root, `s${++counter}`), 'vm');
  const { store } = await CheckpointStore.open(dir, { base: { path: base, format: 'raw' } });
  assert.ok(await qemuIo(store.activeDisk, ['write -P 0x21 0 64k']));
  await store.create('a');
  assert.ok(await qemuIo(store.activeDisk, ['write -P 0x22 64k 64k']));
  await store.create('b');
  if (branch) await store.rollback('1');
  assert.ok(await qemuIo(store.activeDisk, ['write -P 0x23 128k 64k']));
  return dir;
}

function runChild(
  dir: string,
  operation: string,
  killAt = '',
  socket = '',
): Promise<{ code: number | null; signal: string | null; stdout: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, base, operation, killAt, socket], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    proc.once('exit', (code, signal) => resolve({ code, signal, stdout }));
  });
}

type Shape = Array<[string, string | undefined, boolean]>;

async function shape(store: CheckpointStore): Promise<Shape> {
  return (await store.list()).map((c) => [c.id, c.parent, c.current]);
}

// Asserts that the image reads each 64 KiB pattern at its offset.
async function assertReads(image: string, reads: Array<[number, string]>, what: string): Promise<void> {
  for (const [pattern, offset] of reads) {
    assert.ok(
      await qemuIo(image, [`read -P ${pattern} ${offset} 64k`], { readOnly: true }),
      `${what} reads ${pattern} at ${offset}`,
    );
  }
}

// Everything a crash must never break: every image checks clean, every chain resolves to the base through the
// manifest's parents, the folder holds exactly the manifest's files, and frozen data reads back.
async function assertSound(dir: string, store: CheckpointStore, where: string): Promise<void> {
  const manifest = (await readManifest(dir))!;
  assert.is(manifest.pending, undefined, `${where}: nothing is left pending`);
  const files = [manifest.top.file, ...manifest.checkpoints.map((c) => c.file)].sort();
  assert.equal(
    (await readdir(dir)).filter((name) => name !== 'manifest.json').sort(),
    files,
    `${where}: the folder holds exactly the manifest's layers`,
  );
  for (const file of files)
    assert.is((await checkImage(join(dir, file))).state, 'clean', `${where}: ${file} checks clean`);
  const expectedChain = (parent: string | undefined): string[] => {
    const names: string[] = [];
    for (let id = parent; id !== undefined; id = manifest.checkpoints.find((c) => c.id === id)!.parent) {
      names.push(join(dir, manifest.checkpoints.find((c) => c.id === id)!.file));
    }
    return [...names, base];
  };
  // Each image of a chain by its full path (qemu-img names layers relative to the folder).
  const chainOf = async (image: string): Promise<string[]> =>
    (await backingChain(image)).map((link) =>
      link.filename.startsWith('/') ? link.filename : join(dir, link.filename),
    );
  assert.equal(
    await chainOf(store.activeDisk),
    [store.activeDisk, ...expectedChain(manifest.top.parent)],
    `${where}: the top's chain resolves`,
  );
  for (const c of manifest.checkpoints) {
    assert.equal(await chainOf(join(dir, c.file)), expectedChain(c.id), `${where}: checkpoint ${c.id}'s chain`);
    const view = (await store.list()).find((v) => v.id === c.id)!;
    const frozen = FROZEN[c.label === 'a' ? '1' : c.label === 'b' ? '2' : ''] ?? [];
    await assertReads(join(dir, c.file), frozen, `${where}: checkpoint ${view.id}`);
  }
}

interface Case {
  operation: string;
  branch: boolean;
  before: Shape;
  after: Shape;
  // What the top reads once the operation is done, and (when it differs) before.
  topAfter: Array<[number, string]>;
  topBefore: Array<[number, string]>;
}

const all: Array<[number, string]> = [
  [0x21, '0'],
  [0x22, '64k'],
  [0x23, '128k'],
];
// Two checkpoints in a line, the top on 2: what every case but the leaf starts from.
const LINEAR: Shape = [
  ['1', undefined, false],
  ['2', '1', true],
];
const cases: Case[] = [
  {
    operation: 'create:c',
    branch: false,
    before: LINEAR,
    after: [
      ['1', undefined, false],
      ['2', '1', false],
      ['3', '2', true],
    ],
    topBefore: all,
    topAfter: all,
  },
  {
    operation: 'rollback:1',
    branch: false,
    before: LINEAR,
    after: [
      ['1', undefined, true],
      ['2', '1', false],
    ],
    topBefore: all,
    topAfter: [
      [0x21, '0'],
      [0, '64k'],
      [0, '128k'],
    ],
  },
  {
    operation: 'delete:2',
    branch: false,
    before: LINEAR,
    after: [['1', undefined, true]],
    topBefore: all,
    topAfter: all,
  },
  {
    operation: 'delete:1',
    branch: false,
    before: LINEAR,
    after: [['2', undefined, true]],
    topBefore: all,
    topAfter: all,
  },
  {
    operation: 'delete:2',
    branch: true,
    before: [
      ['1', undefined, true],
      ['2', '1', false],
    ],
    after: [['1', undefined, true]],
    topBefore: [
      [0x21, '0'],
      [0x23, '128k'],
    ],
    topAfter: [
      [0x21, '0'],
      [0x23, '128k'],
    ],
  },
  {
    operation: 'pin:1',
    branch: false,
    before: LINEAR,
    after: LINEAR,
    topBefore: all,
    topAfter: all,
  },
];

for (const c of cases) {
  test(`${c.operation}${c.branch ? ' (leaf)' : ''}: killed after every step, recover() leaves the old state or the new one, sound`, async () => {
    const recorded = await runChild(await setup(c.branch), c.operation);
    assert.is(recorded.code, 0);
    const steps = recorded.stdout.trim().split('\n');
    assert.ok(steps.length >= 1, 'the operation reports its steps');
    const outcomes = new Set<string>();
    for (const step of steps) {
      const dir = await setup(c.branch);
      const run = await runChild(dir, c.operation, step);
      assert.is(run.signal, 'SIGKILL', `killed at ${step}`);
      const { store, recovery } = await CheckpointStore.open(dir);
      const now = await shape(store);
      const done =
        JSON.stringify(now) === JSON.stringify(c.after) && (c.operation !== 'pin:1' || (await store.list())[0]!.pinned);
      const undone = JSON.stringify(now) === JSON.stringify(c.before);
      assert.ok(
        done || undone,
        `${c.operation} killed at ${step}: ${JSON.stringify(now)} is neither before nor after (recovery ${JSON.stringify(recovery)})`,
      );
      outcomes.add(done ? 'done' : 'undone');
      await assertSound(dir, store, `${c.operation} killed at ${step}`);
      await assertReads(store.activeDisk, done ? c.topAfter : c.topBefore, `${c.operation} killed at ${step}: the top`);
    }
    // Killed after its last durable step, an operation is always done.
    assert.ok(outcomes.has('done'));
  });
}

const liveCases = cases.filter((c) => ['create:c', 'delete:1', 'delete:2'].includes(c.operation) && !c.branch);

// The killed agent's QEMU lives on: the next agent reconnects and recovers through it.
async function withQemu<T>(dir: string, work: (socket: string, qemu: HoldingQemu) => Promise<T>): Promise<T> {
  const manifest = (await readManifest(dir))!;
  const socket = join(dir, '..', 'qmp.sock');
  const qemu = await startHoldingQemu({
    disk: join(dir, manifest.top.file),
    pidFile: join(dir, '..', 'qemu.pid'),
    qmpSocket: socket,
  });
  try {
    return await work(socket, qemu);
  } finally {
    await qemu.stop();
  }
}

for (const c of liveCases) {
  test(`live ${c.operation}: killed after every step with the VM running, recovery through QMP leaves QEMU writing to the true top`, async () => {
    const first = await setup(false);
    const recorded = await withQemu(first, (socket) => runChild(first, c.operation, '', socket));
    assert.is(recorded.code, 0);
    const steps = recorded.stdout.trim().split('\n');
    assert.ok(steps.length >= 3);
    for (const step of steps) {
      const dir = await setup(false);
      const where = `live ${c.operation} killed at ${step}`;
      const done = await withQemu(dir, async (socket, qemu) => {
        const run = await runChild(dir, c.operation, step, socket);
        assert.is(run.signal, 'SIGKILL', where);
        const qmp = await QmpClient.connect(socket, { timeoutMs: 30_000 });
        try {
          const { store } = await CheckpointStore.open(dir, { live: { qmp } });
          const now = JSON.stringify(await shape(store));
          assert.ok(
            now === JSON.stringify(c.after) || now === JSON.stringify(c.before),
            `${where}: ${now} is neither before nor after`,
          );
          const devices = (await qmp.execute('query-block')) as Array<{ device: string; inserted: { file: string } }>;
          assert.is(
            imageFileOf(devices.find((d) => d.device === 'disk0')!.inserted.file),
            store.activeDisk,
            `${where}: QEMU writes to the manifest's top`,
          );
          assert.ok(await qemuIoInside(qmp, qemu, 'write -P 0x77 256k 64k'), `${where}: the VM still writes`);
          return now === JSON.stringify(c.after);
        } finally {
          qmp.close();
        }
      });
      const { store } = await CheckpointStore.open(dir);
      await assertSound(dir, store, where);
      await assertReads(store.activeDisk, [...(done ? c.topAfter : c.topBefore), [0x77, '256k']], `${where}: the top`);
    }
  });
}

// Resolves once no process of the group is left, or after 10 s (an unreaped zombie holds no lock but still answers).
async function groupGone(pgid: number): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    await sleep(10);
  }
}

test('a merge killed inside qemu-img rebase (the whole process group, at several moments) recovers with all data', async () => {
  const bigBase = join(root, 'big.img');
  await rawBase(bigBase, 256 << 20, 0x11);
  let midway = 0;
  for (const grownBy of [0, 24 << 20, 48 << 20, 72 << 20]) {
    const dir = vmDiskDir(join(root, `rebase-${grownBy}`), 'vm');
    const { store } = await CheckpointStore.open(dir, { base: { path: bigBase, format: 'raw' } });
    await store.create('a');
    // 96 MiB in checkpoint 2 that a merge of 2 into the top must copy.
    assert.ok(await qemuIo(store.activeDisk, ['write -P 0x22 1M 96M']));
    await store.create('b');
    assert.ok(await qemuIo(store.activeDisk, ['write -P 0x23 200M 64k']));
    const top = store.activeDisk;
    const sizeBefore = (await stat(top)).size;
    // The agent and its qemu-img die together once the rebase has copied grownBy bytes into the top.
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, bigBase, 'delete:2', 'never', ''], {
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((resolve) => proc.once('exit', (_code, signal) => resolve(signal)));
    let killed = false;
    while (proc.exitCode === null && proc.signalCode === null) {
      if ((await stat(top).catch(() => ({ size: 0 }))).size > sizeBefore + grownBy) {
        process.kill(-proc.pid!, 'SIGKILL');
        killed = true;
        break;
      }
      await sleep(2);
    }
    await exited;
    // The agent dies first; its qemu-img may still hold the top's lock for a moment, as a real crash would leave it.
    await groupGone(proc.pid!);
    const [link] = await backingChain(top, { shared: true });
    // Mid-rebase: the top grew (clusters copied) but its header still names checkpoint 2.
    if (killed && link!.backingFilename === 'layer-2.qcow2') midway++;
    const { store: reopened } = await CheckpointStore.open(dir);
    assert.equal(
      (await reopened.list()).map((c) => [c.id, c.parent, c.current]),
      [['1', undefined, true]],
      `killed after ${grownBy} bytes: the merge is finished`,
    );
    assert.is((await checkImage(reopened.activeDisk)).state, 'clean');
    assert.ok(
      await qemuIo(reopened.activeDisk, ['read -P 0x22 1M 96M', 'read -P 0x23 200M 64k', 'read -P 0x11 0 64k'], {
        readOnly: true,
      }),
      `killed after ${grownBy} bytes: all data reads`,
    );
    assert.equal((await readdir(dir)).sort(), ['layer-1.qcow2', 'layer-3.qcow2', 'manifest.json']);
  }
  assert.ok(midway >= 2, `kills landed inside the rebase ${midway} times of 4`);
});

test.after(async () => {
  await rm(root, { recursive: true, force: true });
});

test.run();
