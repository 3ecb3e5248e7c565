// A minimal initramfs for boot checks: static busybox and an /init that prints a marker, then powers off.
// It uses the system's GNU cpio for now; builder/archive/cpio.ts replaces that once it lands.
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { runTool } from '../../common/exec.ts';

// What the initramfs's /init does.
export interface BusyboxInitramfsOptions {
  marker: string;
  // true: `poweroff -f` after the marker, so QEMU ends by itself; false: a shell on the console (it waits forever
  // without input).
  poweroff?: boolean;
  // Busybox binary to put at /bin/busybox; must be static (default: /bin/busybox from busybox-static).
  busybox?: string;
}

// A marker goes into a shell script: only characters that need no quoting thought.
const SAFE_MARKER = /^[A-Za-z0-9 ._:=+@/-]+$/;

// The /init script (without the kernel's help: an initramfs has no /dev/console node unless we make one, and we cannot
// without root).
export function busyboxInitScript(options: Pick<BusyboxInitramfsOptions, 'marker' | 'poweroff'>): string {
  if (!SAFE_MARKER.test(options.marker))
    throw new Error(`marker ${JSON.stringify(options.marker)} has characters a boot check should not print`);
  return [
    '#!/bin/busybox sh',
    '/bin/busybox mkdir -p /dev /proc /sys',
    '/bin/busybox mount -t devtmpfs devtmpfs /dev',
    'exec </dev/console >/dev/console 2>&1',
    '/bin/busybox mount -t proc proc /proc',
    '/bin/busybox mount -t sysfs sysfs /sys',
    `/bin/busybox echo '${options.marker}'`,
    options.poweroff === false ? 'exec /bin/busybox sh' : '/bin/busybox poweroff -f',
    '',
  ].join('\n');
}

// The gzip-compressed newc archive; the same options give the same bytes (mtimes 0, owners 0:0, sorted, inode numbers
// renumbered).
export async function makeBusyboxInitramfs(options: BusyboxInitramfsOptions): Promise<Buffer> {
  const stage = await mkdtemp(join(tmpdir(), 'mvos-busybox-initramfs-'));
  try {
    const tree = join(stage, 'tree');
    const entries = ['bin', 'bin/busybox', 'dev', 'init', 'proc', 'sys'];
    for (const dir of ['bin', 'dev', 'proc', 'sys']) await mkdir(join(tree, dir), { recursive: true });
    await copyFile(options.busybox ?? '/bin/busybox', join(tree, 'bin/busybox'));
    await writeFile(join(tree, 'init'), busyboxInitScript(options));
    for (const file of ['bin/busybox', 'init']) await chmod(join(tree, file), 0o755);
    for (const entry of [...entries].reverse()) await utimes(join(tree, entry), 0, 0);
    const archive = join(stage, 'initramfs.cpio');
    await runTool(
      'cpio',
      ['--create', '--format=newc', '--reproducible', '--owner=0:0', '--force-local', `--file=${archive}`],
      {
        cwd: tree,
        input: `${entries.join('\n')}\n`,
      },
    );
    return gzipSync(await readFile(archive), { level: 9 });
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
