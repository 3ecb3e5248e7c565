import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTool } from '../../common/exec.ts';
import { ARTIFACTS, bootToMarker, debianKernel } from './boot.ts';
import { busyboxInitScript, makeBusyboxInitramfs } from './busybox-initramfs.ts';
import { stubKernel } from './stub-kernel.ts';

const dir = await mkdtemp(join(tmpdir(), 'mvos-qa-lib-test-'));

test('bootToMarker: ms to the marker, the console text, and no artifact left on success', async () => {
  const kernel = join(dir, 'off.bin');
  await writeFile(kernel, stubKernel({ marker: 'STUB-READY', after: 'poweroff' }));
  const result = await bootToMarker({
    name: 'qa-lib-test-ok',
    kernel,
    append: 'x=1',
    marker: 'STUB-READY',
    timeoutS: 30,
    until: 'exit',
    memoryMiB: 64,
  });
  assert.ok(result.ms > 0 && result.ms <= result.totalMs);
  assert.match(result.log, /cmdline: .* x=1\nSTUB-READY/);
  assert.equal(result.exit, { code: 0, signal: null });
  assert.is(result.accel, 'tcg');
  assert.not.ok(existsSync(join(ARTIFACTS, 'qa-lib-test-ok.log')));
});

test('bootToMarker keeps the serial log in qa/artifacts/<name>.log when the marker does not come, or the guest does not end', async () => {
  const kernel = join(dir, 'halt.bin');
  await writeFile(kernel, stubKernel({ marker: 'STUB-READY', after: 'halt' }));
  for (const [name, marker, until] of [
    ['qa-lib-test-timeout', 'NEVER', 'marker'],
    ['qa-lib-test-no-exit', 'STUB-READY', 'exit'],
  ] as const) {
    const artifact = join(ARTIFACTS, `${name}.log`);
    try {
      const error = await bootToMarker({ name, kernel, marker, timeoutS: 2, until, memoryMiB: 64 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(error, Error);
      assert.match((error as Error).message, `full serial log: ${artifact}`);
      assert.match(await readFile(artifact, 'utf8'), 'STUB-READY');
    } finally {
      await rm(artifact, { force: true });
    }
  }
});

test('without a kernel package debianKernel fails and says how to get one', async () => {
  const error = await debianKernel({ archives: dir, cacheRoot: dir }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, Error);
  assert.match((error as Error).message, `no linux-image .deb in ${dir} or the mvos cache`);
  assert.match((error as Error).message, 'apt-get install --download-only linux-image-cloud-amd64');
});

test('the busybox initramfs is a newc archive GNU cpio lists, the same bytes every time', async () => {
  const a = await makeBusyboxInitramfs({ marker: 'M-1' });
  const b = await makeBusyboxInitramfs({ marker: 'M-1' });
  assert.ok(a.equals(b), 'two builds differ');
  const file = join(dir, 'initrd.gz');
  await writeFile(file, a);
  const listing = await runTool('sh', ['-c', `gzip -dc '${file}' | cpio -t --quiet`]);
  assert.equal(listing.stdout.trim().split('\n'), ['bin', 'bin/busybox', 'dev', 'init', 'proc', 'sys']);
  const verbose = await runTool('sh', ['-c', `gzip -dc '${file}' | cpio -tv --quiet`]);
  assert.match(verbose.stdout, /^-rwxr-xr-x\s+1 root\s+root\s+\d+ .* init$/m);
});

test('the init script prints the marker, then powers off or gives a shell; odd markers are refused', () => {
  assert.match(
    busyboxInitScript({ marker: 'OK-1', poweroff: true }),
    "/bin/busybox echo 'OK-1'\n/bin/busybox poweroff -f\n",
  );
  assert.match(busyboxInitScript({ marker: 'OK-1', poweroff: false }), 'exec /bin/busybox sh');
  assert.throws(() => busyboxInitScript({ marker: "it's $(bad)" }), /characters a boot check should not print/);
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test.run();
