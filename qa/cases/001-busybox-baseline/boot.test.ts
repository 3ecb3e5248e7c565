// Baseline boot: Debian's kernel and a busybox initramfs under TCG reach userspace, print the marker and power off by
// themselves.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bootToMarker, debianKernel } from '../../lib/boot.ts';
import { makeBusyboxInitramfs } from '../../lib/busybox-initramfs.ts';

const MARKER = 'MVOS-BUSYBOX-BASELINE-OK';

test('Debian kernel + busybox initramfs: marker on the serial console, then QEMU ends by itself', async () => {
  const kernel = await debianKernel();
  const dir = await mkdtemp(join(tmpdir(), 'mvos-qa-001-'));
  try {
    const initrd = join(dir, 'initrd.gz');
    await writeFile(initrd, await makeBusyboxInitramfs({ marker: MARKER, poweroff: true }));
    const result = await bootToMarker({
      name: '001-busybox-baseline',
      kernel: kernel.path,
      initrd,
      append: 'console=ttyS0 panic=-1',
      marker: MARKER,
      timeoutS: 120,
      accel: 'tcg',
      until: 'exit',
    });
    assert.ok(
      result.log.includes(`Linux version ${kernel.version.replace(/-(cloud-)?amd64$/, '')}`),
      'the console shows the kernel it booted',
    );
    assert.equal(result.exit, { code: 0, signal: null }, 'poweroff -f ends QEMU with exit code 0');
    console.log(
      `  ${kernel.deb.split('/').pop()}: marker after ${(result.ms / 1000).toFixed(1)} s, QEMU gone after ${(result.totalMs / 1000).toFixed(1)} s (${result.accel})`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
