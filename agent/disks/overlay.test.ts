import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureError } from '../../common/errors.ts';
import { createOverlay, ensureOverlay } from './overlay.ts';
import { leakCluster, qemuIo, rawBase } from './qemu-images.test-support.ts';
import { backingChain, checkImage } from './qemu-img.ts';

const dir = await mkdtemp(join(tmpdir(), 'mvos-overlay-test-'));
const base = join(dir, 'base.img');
await rawBase(base, 4 << 20, 0x11);

test('createOverlay makes a qcow2 over the absolute base path that reads the base and takes writes without touching it', async () => {
  const overlay = join(dir, 'vm1', 'disk.qcow2');
  await createOverlay(overlay, { path: base, format: 'raw' });
  const [top, bottom] = await backingChain(overlay);
  assert.is(top!.format, 'qcow2');
  assert.is(top!.backingFilename, base);
  assert.is(top!.backingFormat, 'raw');
  assert.is(bottom!.filename, base);
  assert.ok(await qemuIo(overlay, ['read -P 0x11 0 64k'], { readOnly: true }));
  assert.ok(await qemuIo(overlay, ['write -P 0x22 0 64k']));
  assert.ok(await qemuIo(overlay, ['read -P 0x22 0 64k'], { readOnly: true }));
  assert.ok(await qemuIo(base, ['read -P 0x11 0 64k'], { format: 'raw', readOnly: true }), 'the base is untouched');
  assert.equal(await readdir(join(dir, 'vm1')), ['disk.qcow2'], 'no temporary file is left');
});

test('ensureOverlay creates a missing overlay, keeps a good one, and removes half-created temporaries', async () => {
  const overlay = join(dir, 'vm2', 'disk.qcow2');
  assert.is(await ensureOverlay(overlay, { path: base, format: 'raw' }), 'created');
  assert.ok(await qemuIo(overlay, ['write -P 0x33 64k 64k']));
  await writeFile(join(dir, 'vm2', '.creating-dead-disk.qcow2'), 'half');
  assert.is(await ensureOverlay(overlay, { path: base, format: 'raw' }), 'kept');
  assert.equal(await readdir(join(dir, 'vm2')), ['disk.qcow2']);
  assert.ok(await qemuIo(overlay, ['read -P 0x33 64k 64k'], { readOnly: true }), 'the data written before is kept');
});

test('ensureOverlay frees leaked clusters a crash left and reports the repair', async () => {
  const overlay = join(dir, 'vm3', 'disk.qcow2');
  await createOverlay(overlay, { path: base, format: 'raw' });
  assert.ok(await qemuIo(overlay, ['write -P 0x44 0 64k']));
  await leakCluster(overlay);
  assert.is((await checkImage(overlay)).state, 'leaks');
  assert.is(await ensureOverlay(overlay, { path: base, format: 'raw' }), 'repaired');
  assert.is((await checkImage(overlay)).state, 'clean');
  assert.ok(await qemuIo(overlay, ['read -P 0x44 0 64k'], { readOnly: true }));
});

test('ensureOverlay refuses an overlay over another base and a damaged overlay, with hints, and changes neither', async () => {
  const otherBase = join(dir, 'other.img');
  await rawBase(otherBase, 4 << 20, 0x66);
  const overlay = join(dir, 'vm4', 'disk.qcow2');
  await createOverlay(overlay, { path: otherBase, format: 'raw' });
  const wrongBase = await ensureOverlay(overlay, { path: base, format: 'raw' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(wrongBase, FailureError);
  assert.match((wrongBase as Error).message, `grows from ${otherBase}`);
  assert.ok((wrongBase as FailureError).hint);
  assert.is((await backingChain(overlay))[0]!.backingFilename, otherBase);

  const damaged = join(dir, 'vm5', 'disk.qcow2');
  await createOverlay(damaged, { path: base, format: 'raw' });
  await writeFile(damaged, 'not a qcow2 image at all');
  const broken = await ensureOverlay(damaged, { path: base, format: 'raw' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(broken, FailureError);
  assert.match((broken as Error).message, 'is damaged');
});

test('createOverlay over a missing base fails naming it and leaves nothing', async () => {
  const overlay = join(dir, 'vm6', 'disk.qcow2');
  const error = await createOverlay(overlay, { path: join(dir, 'nope.img'), format: 'raw' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, FailureError);
  assert.match((error as Error).message, 'nope.img is missing');
  assert.equal(await readdir(dir).then((names) => names.includes('vm6')), false);
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test.run();
