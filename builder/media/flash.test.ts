// flash against loop devices this test attaches itself (root only); it never writes to any other device.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { refused } from '../../common/refused.test-support.ts';
import { runMvos } from '../cli/mvos.test-support.ts';
import { createProgress } from '../pipeline/progress.ts';
import {
  type BlockNode,
  checkTarget,
  flashImage,
  inspectTarget,
  mountedNumbers,
  rootDiskNumbers,
  swapNumbers,
} from './flash.ts';

const MiB = 1 << 20;
const work = mkdtempSync(join(tmpdir(), 'mvos-flash-'));
const image = join(work, 'image.raw');
// Not a multiple of the 4 MiB block: the last, short block is written and read back too.
const imageBytes = randomBytes(9 * MiB + 4097);
writeFileSync(image, imageBytes);
const canLoop = process.getuid?.() === 0 && spawnSync('losetup', ['--version']).status === 0;

function sh(file: string, args: string[]): string {
  const run = spawnSync(file, args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${run.stderr}`);
  return run.stdout.trim();
}

// Attaches a fresh sparse file and proves the device really is that loop before anything uses it.
function withLoop<T>(bytes: number, body: (dev: string) => Promise<T>, partscan = false): Promise<T> {
  const file = join(work, `disk-${randomBytes(4).toString('hex')}.img`);
  writeFileSync(file, '');
  sh('truncate', ['-s', String(bytes), file]);
  const dev = sh('losetup', ['-f', '--show', ...(partscan ? ['-P'] : []), file]);
  const run = async (): Promise<T> => {
    assert.match(dev, /^\/dev\/loop\d+$/, 'losetup gave a loop device');
    assert.is(sh('losetup', ['-n', '-O', 'BACK-FILE', dev]), file, `${dev} is backed by our file`);
    return body(dev);
  };
  return run().finally(() => {
    sh('losetup', ['-d', dev]);
    rmSync(file, { force: true });
  });
}

function sha256Of(path: string, bytes?: number): string {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.alloc(4 * MiB);
    for (let offset = 0; bytes === undefined || offset < bytes; ) {
      const got = readSync(
        fd,
        buffer,
        0,
        bytes === undefined ? buffer.length : Math.min(buffer.length, bytes - offset),
        offset,
      );
      if (got === 0) break;
      hash.update(buffer.subarray(0, got));
      offset += got;
    }
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}

const mvos = (args: string[]) => runMvos(args, { timeoutMs: 120_000 });

test('mountinfo and /proc/swaps parse to major:minor numbers', () => {
  const numbers = mountedNumbers(
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n30 27 7:3 / /mnt rw - ext2 /dev/loop3 rw\n',
  );
  assert.ok(numbers.has('254:0') && numbers.has('7:3'));
  assert.is(swapNumbers('Filename\tType\tSize\tUsed\tPriority\n/nonexistent/swapfile\tfile\t1\t0\t-2\n').size, 0);
});

test('a loop device bigger than the image: written, read back, first N bytes equal the image', async () => {
  if (!canLoop) return console.log('  skipped: needs root and losetup');
  await withLoop(16 * MiB, async (dev) => {
    const target = await inspectTarget(dev);
    await checkTarget(target, imageBytes.length, image);
    const result = await flashImage(image, target);
    assert.is(result.bytes, imageBytes.length);
    assert.is(result.sha256, createHash('sha256').update(imageBytes).digest('hex'));
    assert.is(sha256Of(dev, imageBytes.length), result.sha256);
  });
});

test('the CLI flashes a loop device with --yes --json', async () => {
  if (!canLoop) return console.log('  skipped: needs root and losetup');
  await withLoop(16 * MiB, async (dev) => {
    const { code, stdout, stderr } = mvos(['flash', image, dev, '--yes', '--json']);
    assert.is(code, 0, stderr);
    const json = JSON.parse(stdout);
    assert.is(json.bytes, imageBytes.length);
    assert.ok(json.verified);
    assert.match(stderr, new RegExp(`target: ${dev} .* 16\\.0 MiB loop`));
    assert.is(sha256Of(dev, imageBytes.length), json.sha256);
  });
});

test('a loop device smaller than the image is refused and untouched', async () => {
  if (!canLoop) return console.log('  skipped: needs root and losetup');
  await withLoop(4 * MiB, async (dev) => {
    const before = sha256Of(dev);
    await refused(checkTarget(await inspectTarget(dev), imageBytes.length, image), /smaller than the image/);
    const cli = mvos(['flash', image, dev, '--yes']);
    assert.is(cli.code, 2, cli.stderr);
    assert.is(sha256Of(dev), before);
  });
});

test('a mounted loop device is refused and its content unchanged', async () => {
  if (!canLoop) return console.log('  skipped: needs root and losetup');
  await withLoop(16 * MiB, async (dev) => {
    sh('mkfs.ext2', ['-q', '-F', dev]);
    const mnt = mkdtempSync(join(work, 'mnt-'));
    // Read-only: a read-write ext2 mount updates its own superblock later, which would fake a change.
    sh('mount', ['-o', 'ro', dev, mnt]);
    try {
      const before = sha256Of(dev);
      await refused(checkTarget(await inspectTarget(dev), imageBytes.length, image), /is mounted on/);
      const cli = mvos(['flash', image, dev, '--yes']);
      assert.is(cli.code, 2, cli.stderr);
      assert.match(cli.stderr, /is mounted/);
      assert.is(sha256Of(dev), before);
    } finally {
      sh('umount', [mnt]);
    }
  });
});

test('a partition is refused (the image brings its own partition table); its disk names it', async () => {
  if (!canLoop || spawnSync('sfdisk', ['--version']).status !== 0)
    return console.log('  skipped: needs root, losetup and sfdisk');
  await withLoop(
    32 * MiB,
    async (dev) => {
      spawnSync('sfdisk', ['-q', dev], { input: 'label: gpt\nsize=20MiB\n' });
      sh('partx', ['-u', dev]);
      const part = `${dev}p1`;
      if (!existsSync(part)) return console.log('  skipped: no partition node appeared');
      await refused(checkTarget(await inspectTarget(part), MiB, image), /is a partition, not a whole disk/);
    },
    true,
  );
});

test('a loop device in use as swap is refused', async () => {
  if (!canLoop) return console.log('  skipped: needs root and losetup');
  await withLoop(16 * MiB, async (dev) => {
    sh('mkswap', [dev]);
    if (spawnSync('swapon', [dev]).status !== 0) return console.log('  skipped: swapon is not allowed here');
    try {
      await refused(checkTarget(await inspectTarget(dev), MiB, image), /swap/);
    } finally {
      sh('swapoff', [dev]);
    }
  });
});

test('the disk holding / is refused (checked only; never written)', async () => {
  const numbers = await rootDiskNumbers();
  const disks = JSON.parse(sh('lsblk', ['--json', '--list', '--output', 'PATH,MAJ:MIN,TYPE'])).blockdevices as {
    path: string;
    'maj:min': string;
    type: string;
  }[];
  const disk = disks.find((d) => numbers.has(d['maj:min']) && d.type === 'disk');
  if (!disk) return console.log('  skipped: / is not on a block device here');
  await refused(checkTarget(await inspectTarget(disk.path), MiB, image), /holds the running system's root filesystem/);
});

test('a device path swapped for another loop device after the checks is refused; neither disk is written', async () => {
  if (!canLoop) return console.log('  skipped: needs root and losetup');
  await withLoop(16 * MiB, (checked) =>
    withLoop(16 * MiB, async (other) => {
      const link = join(work, `disk-link-${randomBytes(4).toString('hex')}`);
      symlinkSync(checked, link);
      try {
        const target = await inspectTarget(link);
        await checkTarget(target, imageBytes.length, image);
        const before = [sha256Of(checked), sha256Of(other)];
        // The path now names another disk, as a udev rename or a hostile script could make it between the checks (and
        // prompt) and the open.
        unlinkSync(link);
        symlinkSync(other, link);
        await refused(flashImage(image, target), /no longer the disk that was checked/);
        assert.equal([sha256Of(checked), sha256Of(other)], before);
      } finally {
        rmSync(link, { force: true });
      }
    }),
  );
});

test('a device path that turned into a plain file after the checks is refused and the file untouched (no loop device needed)', async () => {
  const victim = join(work, 'victim-of-swap.img');
  writeFileSync(victim, 'precious');
  const link = join(work, 'swapped-disk');
  symlinkSync(victim, link);
  // What inspectTarget reported for the disk the checks passed: loop7, 16 MiB, nothing mounted.
  const device: BlockNode = {
    name: 'loop7',
    path: '/dev/loop7',
    model: null,
    size: 16 * MiB,
    type: 'loop',
    majMin: '7:7',
    pkname: null,
    mountpoints: [],
    children: [],
  };
  try {
    await refused(flashImage(image, { kind: 'device', path: link, device }), /no longer the disk that was checked/);
    assert.is(readFileSync(victim, 'utf8'), 'precious');
  } finally {
    rmSync(link, { force: true });
  }
});

test('--to-file: a symlink planted at the temporary name is not written through', async () => {
  const out = join(work, 'planted.raw');
  const victim = join(work, 'planted-victim.txt');
  writeFileSync(victim, 'do not touch');
  const planted = join(work, `.planted.raw.mvos-flash-${process.pid}.tmp`);
  symlinkSync(victim, planted);
  try {
    const target = await inspectTarget(out, { toFile: true });
    await checkTarget(target, imageBytes.length, image, { toFile: true });
    await refused(flashImage(image, target), /is in the way/);
    assert.is(readFileSync(victim, 'utf8'), 'do not touch');
    assert.ok(lstatSync(planted).isSymbolicLink(), 'the planted link is left as it was found');
    assert.not.ok(existsSync(out), 'nothing was written to the target');
  } finally {
    rmSync(planted, { force: true });
  }
});

test('a regular file is refused without --to-file and written atomically with it', async () => {
  const file = join(work, 'out.raw');
  writeFileSync(file, 'old');
  await refused(checkTarget(await inspectTarget(file), imageBytes.length, image), /regular file/);
  assert.is(readFileSync(file, 'utf8'), 'old');
  const target = await inspectTarget(file, { toFile: true });
  await checkTarget(target, imageBytes.length, image, { toFile: true });
  const shown: string[] = [];
  const stream = { isTTY: false, write: (chunk: string) => shown.push(chunk) > 0 };
  await flashImage(image, target, createProgress(stream as unknown as NodeJS.WritableStream, false, { tickMs: 0 }));
  assert.ok(readFileSync(file).equals(imageBytes));
  const lines = shown
    .join('')
    .replace(/done in \d+s/g, 'done in Ns')
    .split('\n');
  assert.equal(lines, [
    `writing image.raw to ${file} (9.0 MiB)`,
    `writing image.raw to ${file}: 9.0 MiB, done in Ns`,
    `reading back ${file} (9.0 MiB)`,
    `reading back ${file}: 9.0 MiB, done in Ns`,
    '',
  ]);
  await refused(
    checkTarget(await inspectTarget(image, { toFile: true }), imageBytes.length, image, { toFile: true }),
    /the image itself/,
  );
});

test('a missing path, and an image that is not a file, are refused', async () => {
  await refused(inspectTarget(join(work, 'nope', 'dev')), /does not exist/);
  const cli = mvos(['flash', work, join(work, 'x.raw'), '--yes', '--to-file']);
  assert.is(cli.code, 2);
  assert.match(cli.stderr, /is not a file/);
});

test('no --yes and no terminal: refused before writing', async () => {
  if (!canLoop) return console.log('  skipped: needs root and losetup');
  await withLoop(16 * MiB, async (dev) => {
    const before = sha256Of(dev);
    const cli = mvos(['flash', image, dev]);
    assert.is(cli.code, 2);
    assert.match(cli.stderr, /--yes/);
    assert.is(sha256Of(dev), before);
  });
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
