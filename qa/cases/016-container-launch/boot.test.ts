// Container launches end to end: an OCI image (static busybox, two layers, a whiteout) is unpacked to an EROFS root,
// its run config goes on a config disk, and a small VM with the small guest kernel and the container init runs it:
// the output arrives on the console with every argument byte intact, and the exit code comes back in the marker.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { unpackOciImage } from '../../../agent/launch/oci.ts';
import type { RunOverrides } from '../../../agent/launch/oci-config.ts';
import { layerTar, writeLayout } from '../../../agent/launch/oci-images.test-support.ts';
import { CONTAINER_END, containerEnd, containerSpec } from '../../../agent/launch/oci-launch.ts';
import { containerInitramfs } from '../../../builder/pipeline/container-init.ts';
import { bootToMarker } from '../../lib/boot.ts';
import { buildGuestImage } from '../../lib/guest-image.ts';

const SCRIPT =
  'echo hello; for a in "$@"; do echo "[$a]"; done; echo "cwd=$(pwd) uid=$(id -u) greet=$GREETING"; [ -e ' +
  '/etc/secret ] && echo LEAK; ls /dev/vd* /dev/vport* 2>/dev/null && echo LEAK; echo x > /dev/null || echo LEAK; ' +
  'exit 3';
const ARGS = ['a  b', `it's "quoted"`, '$(reboot) * `x`'];

// Unpacks the image with these overrides, writes its config disk and boots it until the container init's last word.
async function launch(
  dir: string,
  name: string,
  overrides: RunOverrides = {},
  damage?: (rootfs: string) => Promise<void>,
) {
  const guest = await buildGuestImage('recipes/controller.yaml');
  const unpacked = await unpackOciImage(join(dir, 'image'), join(dir, name), { overrides });
  if (damage) await damage(unpacked.rootfs);
  await writeFile(join(dir, 'initrd.gz'), await containerInitramfs(await readFile('/bin/busybox'), 0));
  const spec = await containerSpec(unpacked, {
    kernel: guest.kernel,
    initrd: join(dir, 'initrd.gz'),
    cmdline: 'console=ttyS0 quiet panic=-1',
  });
  const run = await bootToMarker({
    name: `016-${name}`,
    // q35, not microvm: under TCG on a loaded host about 1 microvm boot in 8 hangs after the TSC fails to calibrate
    // against the PIT (microvm has no HPET or ACPI PM timer to fall back on). Under KVM, kvm-clock avoids it.
    machine: 'q35',
    ...spec,
    marker: CONTAINER_END,
    timeoutS: 240,
    until: 'exit',
  });
  assert.equal(run.exit, { code: 0, signal: null }, 'the init powered the VM off');
  return { run, end: containerEnd(run.log), lines: run.log.split(/\r?\n/).map((l) => l.trim()) };
}

async function writeImage(dir: string): Promise<void> {
  const lower = await layerTar([
    { name: 'bin', type: 'directory' },
    { name: 'bin/busybox', content: await readFile('/bin/busybox'), mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'bin/id', type: 'symlink', linkname: 'busybox' },
    { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' },
    { name: 'etc/secret', content: 'deleted by the upper layer' },
  ]);
  const upper = await layerTar([
    { name: 'etc/.wh.secret' },
    { name: 'home/app', type: 'directory', uid: 1000, gid: 1000 },
  ]);
  await writeLayout(
    join(dir, 'image'),
    [lower, upper],
    {
      Entrypoint: ['sh', '-c', SCRIPT, 'argv0'],
      Cmd: ARGS,
      Env: ['GREETING=hi  there', 'PATH=/bin'],
      WorkingDir: '/home/app',
      User: 'app',
    },
    [false, true],
  );
}

test('an OCI image runs in a small VM: output on the console, arguments exact, env, working folder, user, exit code', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-qa-016-'));
  try {
    await writeImage(dir);
    const { run, end, lines } = await launch(dir, 'run');
    const from = lines.indexOf('hello');
    assert.ok(from >= 0, 'the container printed hello');
    assert.equal(lines.slice(from, from + 5), [
      'hello',
      '[a  b]',
      `[it's "quoted"]`,
      '[$(reboot) * `x`]',
      'cwd=/home/app uid=1000 greet=hi  there',
    ]);
    assert.not.ok(
      lines.includes('LEAK'),
      'the whiteout removed /etc/secret; /dev has null but not the disks or the health port',
    );
    assert.equal(end, { exitCode: 3 });
    console.log(
      `  exit code 3 back ${(run.ms / 1000).toFixed(1)} s after QEMU started, QEMU gone after ${(run.totalMs / 1000).toFixed(1)} s`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a command not on the image PATH exits 127; a damaged root image fails before anything runs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvos-qa-016-'));
  try {
    await writeImage(dir);
    const missing = await launch(dir, 'missing', { entrypoint: ['no-such-program'] });
    assert.ok(missing.lines.includes('container: no-such-program: not found on PATH'));
    assert.equal(missing.end, { exitCode: 127 });
    const damaged = await launch(dir, 'damaged', {}, async (rootfs) => {
      const bytes = await readFile(rootfs);
      bytes.fill(0x55, 0, 4096);
      await writeFile(rootfs, bytes);
    });
    assert.equal(damaged.end, { failed: 'root image unreadable' });
    assert.not.ok(damaged.lines.includes('hello'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
