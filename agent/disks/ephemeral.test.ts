import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ControlError } from '../controls.ts';
import { createEphemeralLayer, discardEphemeralLayer, ephemeralRoot, sweepEphemeral } from './ephemeral.ts';
import { qemuIo, rawBase, startHoldingQemu } from './qemu-images.test-support.ts';

const dir = await mkdtemp(join(tmpdir(), 'mvos-ephemeral-test-'));
const base = { path: join(dir, 'base.img'), format: 'raw' as const };
await rawBase(base.path, 4 << 20, 0x11);

async function fresh(name: string): Promise<string> {
  const state = join(dir, name);
  await mkdir(state);
  return state;
}

async function leftovers(state: string): Promise<string[]> {
  return readdir(ephemeralRoot(state)).catch(() => []);
}

test('a layer is an overlay in a marked folder; a live QEMU keeps it through a sweep; stop + discard leaves nothing', async () => {
  const state = await fresh('clean-stop');
  const layer = await createEphemeralLayer(state, 'web', base);
  assert.match(layer.dir, join(state, 'ephemeral', 'web-'));
  assert.equal((await readdir(layer.dir)).sort(), ['.ephemeral', 'disk.qcow2']);
  assert.ok(await qemuIo(layer.disk, ['read -P 0x11 0 64k'], { readOnly: true }));
  assert.equal((await sweepEphemeral(state)).kept, [layer.dir], 'a layer whose QEMU has not started yet is kept');

  const qemu = await startHoldingQemu({ disk: layer.disk, pidFile: layer.pidFile });
  try {
    assert.equal(await sweepEphemeral(state), { removed: [], kept: [layer.dir] });
    const busy = await discardEphemeralLayer(layer).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(busy, ControlError);
    assert.is((busy as ControlError).kind, 'conflict');
  } finally {
    await qemu.stop();
  }
  await discardEphemeralLayer(layer);
  assert.equal(await leftovers(state), []);
});

test('after QEMU is killed with SIGKILL (its pid file stays behind) the sweep removes the layer', async () => {
  const state = await fresh('crash');
  const layer = await createEphemeralLayer(state, 'db', base);
  const qemu = await startHoldingQemu({ disk: layer.disk, pidFile: layer.pidFile });
  assert.equal((await sweepEphemeral(state)).kept, [layer.dir]);
  process.kill(qemu.pid, 'SIGKILL');
  await qemu.stop();
  assert.equal(await sweepEphemeral(state), { removed: [layer.dir], kept: [] });
  assert.equal(await leftovers(state), []);
});

test('a QEMU that exited cleanly (pid file removed by QEMU) leaves its layer to the next sweep after stop', async () => {
  const state = await fresh('clean-exit');
  const layer = await createEphemeralLayer(state, 'job', base);
  const qemu = await startHoldingQemu({ disk: layer.disk, pidFile: layer.pidFile });
  await sweepEphemeral(state);
  await qemu.stop();
  assert.equal(await sweepEphemeral(state), { removed: [layer.dir], kept: [] });
});

test('an agent killed mid-way leaves layers that the next agent (another process) sweeps at start', async () => {
  const state = await fresh('agent-crash');
  // A child agent creates two layers and then SIGKILLs itself before any QEMU started.
  const script = `
    import { createEphemeralLayer } from ${JSON.stringify(new URL('./ephemeral.ts', import.meta.url).href)};
    await createEphemeralLayer(${JSON.stringify(state)}, 'a', ${JSON.stringify(base)});
    await createEphemeralLayer(${JSON.stringify(state)}, 'b', ${JSON.stringify(base)});
    process.kill(process.pid, 'SIGKILL');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'inherit' });
  const signal = await new Promise((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
  assert.is(signal, 'SIGKILL');
  assert.is((await leftovers(state)).length, 2);
  // A half-deleted folder and an unmarked empty one, as a crash in the middle of removal or creation leaves them.
  await mkdir(join(ephemeralRoot(state), '.trash-0123'), { recursive: true });
  await writeFile(join(ephemeralRoot(state), '.trash-0123', 'disk.qcow2'), 'x');
  await mkdir(join(ephemeralRoot(state), 'c-unmarked'));
  const report = await sweepEphemeral(state);
  assert.is(report.removed.length, 3);
  assert.equal(await leftovers(state), []);
});

test('a pid file naming a live process that is not this layer’s QEMU (a reused pid) does not keep the layer', async () => {
  const state = await fresh('reused-pid');
  const child = spawn(process.execPath, ['--input-type=module', '-e', 'setTimeout(() => {}, 60_000)'], {
    stdio: 'ignore',
  });
  try {
    const script = `
      import { createEphemeralLayer } from ${JSON.stringify(new URL('./ephemeral.ts', import.meta.url).href)};
      const layer = await createEphemeralLayer(${JSON.stringify(state)}, 'x', ${JSON.stringify(base)});
      const { writeFileSync } = await import('node:fs');
      writeFileSync(layer.pidFile, '${child.pid}\\n');`;
    const maker = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: 'inherit',
    });
    assert.is(await new Promise((resolve) => maker.once('exit', resolve)), 0);
    assert.equal((await sweepEphemeral(state)).kept, []);
    assert.equal(await leftovers(state), []);
  } finally {
    child.kill('SIGKILL');
  }
});

test('a sweep never deletes a folder under ephemeral/ that is not marked as a layer and holds files', async () => {
  const state = await fresh('foreign');
  await mkdir(join(ephemeralRoot(state), 'not-ours'), { recursive: true });
  await writeFile(join(ephemeralRoot(state), 'not-ours', 'precious'), 'keep me');
  await sweepEphemeral(state);
  assert.equal(await readdir(join(ephemeralRoot(state), 'not-ours')), ['precious']);
});

test('a VM name that could climb out of the state folder is refused before anything is written', async () => {
  const state = await fresh('names');
  for (const name of ['../escape', 'a/b', '.hidden', '', 'UPPER', 'x'.repeat(64)]) {
    const error = await createEphemeralLayer(state, name, base).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(error, ControlError, name);
    assert.is((error as ControlError).kind, 'invalid');
  }
  assert.equal(await readdir(state), []);
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test.run();
