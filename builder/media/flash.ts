// Writes a built image to a whole disk (or, on request, a file) and reads it back; refuses every target it could wreck.
import { createHash } from 'node:crypto';
import {
  type BigIntStats,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FailureError, UserError } from '../../common/errors.ts';
import { runTool } from '../../common/exec.ts';
import type { Progress, ProgressTask } from '../pipeline/progress.ts';

const BLOCK = 4 << 20;

// One node of lsblk's tree: a disk, a partition or something stacked on them (dm, md).
export interface BlockNode {
  name: string;
  path: string;
  model: string | null;
  size: number;
  type: string;
  majMin: string;
  pkname: string | null;
  mountpoints: string[];
  children: BlockNode[];
}

// What `mvos flash` was pointed at: a block device (with lsblk's view of it) or a plain file.
export type FlashTarget =
  | { kind: 'device'; path: string; device: BlockNode }
  | { kind: 'file'; path: string; exists: boolean };

// What a finished flash reports.
export interface FlashResult {
  image: string;
  target: string;
  bytes: number;
  seconds: number;
  mibPerSecond: number;
  sha256: string;
}

interface RawNode {
  name: string;
  path: string;
  model?: string | null;
  size: number | string;
  type: string;
  'maj:min': string;
  pkname?: string | null;
  mountpoints?: (string | null)[];
  children?: RawNode[];
}

function toNode(raw: RawNode): BlockNode {
  return {
    name: raw.name,
    path: raw.path,
    model: raw.model?.trim() || null,
    size: Number(raw.size),
    type: raw.type,
    majMin: raw['maj:min'],
    pkname: raw.pkname ?? null,
    mountpoints: (raw.mountpoints ?? []).filter((m): m is string => typeof m === 'string'),
    children: (raw.children ?? []).map(toNode),
  };
}

// MAJ:MIN on top of the documented columns: mountinfo and the root-disk lookup match devices by number, not by name.
async function lsblk(args: string[]): Promise<BlockNode[]> {
  const { stdout } = await runTool('lsblk', [
    '--json',
    '--bytes',
    '--output',
    'NAME,PATH,MODEL,SIZE,TYPE,MOUNTPOINTS,PKNAME,MAJ:MIN',
    ...args,
  ]);
  return (JSON.parse(stdout) as { blockdevices: RawNode[] }).blockdevices.map(toNode);
}

// Every node of a tree, the root first.
export function flatten(node: BlockNode): BlockNode[] {
  return [node, ...node.children.flatMap(flatten)];
}

// Sizes as people read them on a disk label: 117.0 MiB, 256.0 GiB.
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

// The image's size; anything but a regular file is refused.
export function imageSize(image: string): number {
  if (!existsSync(image))
    throw new UserError(`image ${image} does not exist`, {
      hint: 'build it with `./mvos build`; the raw disk is images/<name>/<name>.raw',
    });
  const stat = statSync(image);
  if (!stat.isFile())
    throw new UserError(`image ${image} is not a file`, {
      hint: 'pass the .raw (or .iso) file itself, not its folder',
    });
  return stat.size;
}

// Finds out what `path` is; a missing path is only allowed as a new file with --to-file.
export async function inspectTarget(path: string, options: { toFile?: boolean } = {}): Promise<FlashTarget> {
  if (!existsSync(path)) {
    if (options.toFile && existsSync(dirname(path)) && statSync(dirname(path)).isDirectory())
      return { kind: 'file', path, exists: false };
    throw new UserError(`${path} does not exist`, {
      hint: 'name a whole disk such as /dev/sdb (`lsblk` lists them), or a file with --to-file',
    });
  }
  const stat = statSync(path);
  if (stat.isFile()) return { kind: 'file', path, exists: true };
  if (!stat.isBlockDevice()) throw new UserError(`${path} is neither a block device nor a file`);
  const number = majMinOf(path);
  const [device] = await lsblk([realpathSync(path)]);
  if (!device) throw new FailureError(`lsblk did not describe ${path}`);
  // The checks judge lsblk's device, and the write later proves it opened that same number: stat and lsblk must agree
  // first.
  if (device.majMin !== number)
    throw new UserError(
      `${path} changed while it was inspected (device ${number ?? 'gone'}, lsblk described ${device.majMin})`,
      { hint: 'run mvos flash again once nothing renames disks (udev, a script)' },
    );
  return { kind: 'device', path, device };
}

// major:minor of every mounted filesystem in this mount namespace.
export function mountedNumbers(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): Set<string> {
  return new Set(
    mountinfo
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ')[2]!),
  );
}

// glibc's major()/minor() on st_rdev, as lsblk and mountinfo print them.
function majMinOfStat(stat: BigIntStats): string | undefined {
  if (!stat.isBlockDevice()) return undefined;
  const major = ((stat.rdev >> 8n) & 0xfffn) | ((stat.rdev >> 32n) & ~0xfffn);
  const minor = (stat.rdev & 0xffn) | ((stat.rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

function majMinOf(path: string): string | undefined {
  try {
    return majMinOfStat(statSync(path, { bigint: true }));
  } catch {
    return undefined;
  }
}

// major:minor of every block device in use as swap.
export function swapNumbers(swaps = readFileSync('/proc/swaps', 'utf8')): Set<string> {
  const found = new Set<string>();
  for (const line of swaps.split('\n').slice(1)) {
    const file = line.split(/\s+/)[0];
    const number = file ? majMinOf(file.replace(/\\040/g, ' ')) : undefined;
    if (number) found.add(number);
  }
  return found;
}

// major:minor of the root filesystem's device and every device under it, up to its disk (through lsblk's PKNAME).
export async function rootDiskNumbers(): Promise<Set<string>> {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  const root = lines.filter((line) => line.split(' ')[4] === '/').at(-1);
  const chain = new Set<string>();
  if (!root) return chain;
  const fields = root.split(' ');
  const source = fields[fields.indexOf('-') + 2];
  // btrfs and friends mount with an anonymous 0:N number: the source device names the disk then.
  const wanted = new Set([
    fields[2]!,
    ...(source?.startsWith('/dev/') ? [majMinOf(source)].filter((n): n is string => !!n) : []),
  ]);
  const all = (await lsblk(['--list'])).flatMap(flatten);
  let current = all.filter((node) => wanted.has(node.majMin));
  while (current.length > 0) {
    const parents = new Set<string>();
    for (const node of current) {
      if (chain.has(node.majMin)) continue;
      chain.add(node.majMin);
      if (node.pkname) parents.add(node.pkname);
    }
    current = all.filter((node) => parents.has(node.name) && !chain.has(node.majMin));
  }
  return chain;
}

// Throws a UserError (nothing written) for a target that must not be flashed; order matters only for the message.
export async function checkTarget(
  target: FlashTarget,
  size: number,
  image: string,
  options: { toFile?: boolean } = {},
): Promise<void> {
  if (target.kind === 'file') {
    if (!options.toFile)
      throw new UserError(`${target.path} is a regular file, not a disk`, {
        hint: 'pass --to-file to write the image into a file, or name a whole disk such as /dev/sdb',
      });
    if (target.exists && realpathSync(target.path) === realpathSync(image))
      throw new UserError(`${target.path} is the image itself`);
    return;
  }
  const device = target.device;
  const nodes = flatten(device);
  const root = await rootDiskNumbers();
  if (nodes.some((node) => root.has(node.majMin)))
    throw new UserError(`${target.path} holds the running system's root filesystem`, {
      hint: 'flash a removable or spare disk; `lsblk` shows which disk is mounted on /',
    });
  // A partition is refused, not just warned about: a raw image carries its own partition table and would not boot from
  // inside another disk's partition.
  if (device.type === 'part')
    throw new UserError(`${target.path} is a partition, not a whole disk`, {
      hint: device.pkname
        ? `the image carries its own partition table: write it to /dev/${device.pkname}`
        : 'name the whole disk',
    });
  if (device.type !== 'disk' && device.type !== 'loop')
    throw new UserError(`${target.path} is a ${device.type} device, not a whole disk`, {
      hint: 'name a whole disk such as /dev/sdb (`lsblk` lists them)',
    });
  const mounted = mountedNumbers();
  const swaps = swapNumbers();
  for (const node of nodes) {
    const where = node === device ? target.path : `its partition ${node.path}`;
    // lsblk lists active swap as the mount point "[SWAP]".
    if (swaps.has(node.majMin) || node.mountpoints.includes('[SWAP]'))
      throw new UserError(`${where} is in use as swap`, {
        hint: `\`swapoff ${node.path}\` first, and check it is the disk you mean`,
      });
    if (node.mountpoints.length > 0 || mounted.has(node.majMin)) {
      throw new UserError(`${where} is mounted${node.mountpoints.length ? ` on ${node.mountpoints.join(', ')}` : ''}`, {
        hint: `unmount it first (\`umount ${node.mountpoints[0] ?? node.path}\`), and check it is the disk you mean`,
      });
    }
  }
  if (device.size < size)
    throw new UserError(`${target.path} (${formatSize(device.size)}) is smaller than the image (${formatSize(size)})`);
}

// One line per device and partition, printed before anything is written.
export function describeTarget(target: FlashTarget): string[] {
  if (target.kind === 'file')
    return [
      `target: file ${target.path}${target.exists ? ` (${formatSize(statSync(target.path).size)}, replaced)` : ' (new)'}`,
    ];
  const { device } = target;
  const lines = [`target: ${target.path} ${device.model ?? '(no model)'} ${formatSize(device.size)} ${device.type}`];
  for (const node of flatten(device).slice(1))
    lines.push(
      `  ${node.path} ${formatSize(node.size)} ${node.type}${node.mountpoints.length ? ` mounted on ${node.mountpoints.join(', ')}` : ''}`,
    );
  if (lines.length === 1) lines.push('  no partitions');
  return lines;
}

// The question asked before writing without --yes.
export function confirmQuestion(image: string, size: number, target: FlashTarget): string {
  const what =
    target.kind === 'device'
      ? `${target.path} ${target.device.model ?? '(no model)'} ${formatSize(target.device.size)}`
      : target.path;
  return `Write ${image} (${formatSize(size)}) to ${what}? All data on it is lost. Type yes: `;
}

function openDevice(path: string, flags: number): number {
  try {
    // O_EXCL on a block device fails with EBUSY while anything (a mount, md, dm) holds it, closing the gap after the
    // checks.
    return openSync(path, flags | constants.O_EXCL);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EBUSY')
      throw new UserError(`${path} is in use (mounted or held by another device)`, { cause: error });
    throw error;
  }
}

// A target opened for writing: the descriptor the whole flash goes through, and where its bytes land (the disk, or the
// temporary file).
export interface OpenedTarget {
  fd: number;
  destination: string;
}

// The temporary file a --to-file flash writes before the rename: beside the target, so the rename stays on one file
// system.
function temporaryPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.mvos-flash-${process.pid}.tmp`);
}

function createTemporary(path: string): number {
  try {
    // O_EXCL with O_CREAT never follows a link nor reuses a file: whatever sits at the name already is refused, not
    // written through.
    return openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UserError(`${path} is in the way (a file or link this flash did not make)`, {
        cause: error,
        hint: `look at it and remove it (\`ls -l ${path}\`), then run mvos flash again`,
      });
    throw error;
  }
}

// Opens the target once for the write and the read-back; a disk whose number is not the checked one is refused, nothing
// written.
export function openTarget(target: FlashTarget): OpenedTarget {
  if (target.kind === 'file') {
    const destination = temporaryPath(target.path);
    return { fd: createTemporary(destination), destination };
  }
  const fd = openDevice(target.path, constants.O_RDWR);
  const opened = majMinOfStat(fstatSync(fd, { bigint: true }));
  if (opened !== target.device.majMin) {
    closeSync(fd);
    throw new UserError(
      `${target.path} is no longer the disk that was checked (checked ${target.device.majMin}, opened ${opened ?? 'something that is not a block device'}): nothing was written`,
      {
        hint: 'run mvos flash again, and check nothing renames disks meanwhile (udev, a script)',
      },
    );
  }
  return { fd, destination: target.path };
}

// Gives up an opened target without flashing (the answer was no): closes it and removes a temporary file.
export function discardTarget(target: FlashTarget, opened: OpenedTarget): void {
  closeSync(opened.fd);
  if (target.kind === 'file') rmSync(opened.destination, { force: true });
}

function hashRange(fd: number, size: number, task?: ProgressTask): string {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(BLOCK);
  for (let offset = 0; offset < size; ) {
    const got = readSync(fd, buffer, 0, Math.min(BLOCK, size - offset), offset);
    if (got === 0) break;
    hash.update(buffer.subarray(0, got));
    offset += got;
    task?.advance(got);
  }
  return hash.digest('hex');
}

// Writes the image in 4 MiB blocks, syncs, reads back image-size bytes and compares their sha256 with the image's.
// `opened` is the target openTarget gave (the CLI opens it before asking); without it the target is opened here.
export async function flashImage(
  image: string,
  target: FlashTarget,
  progress?: Progress,
  opened?: OpenedTarget,
): Promise<FlashResult> {
  const size = imageSize(image);
  const started = Date.now();
  const input = openSync(image, 'r');
  let output: OpenedTarget;
  try {
    output = opened ?? openTarget(target);
  } catch (error) {
    closeSync(input);
    throw error;
  }
  const { fd, destination } = output;
  let task = progress?.start(`writing ${basename(image)} to ${target.path}`, size, 'bytes');
  const imageHash = createHash('sha256');
  let actual: string;
  try {
    try {
      const buffer = Buffer.alloc(BLOCK);
      for (let offset = 0; offset < size; ) {
        const got = readSync(input, buffer, 0, Math.min(BLOCK, size - offset), offset);
        if (got === 0) throw new FailureError(`${image} shrank while it was written (at ${offset} of ${size} bytes)`);
        imageHash.update(buffer.subarray(0, got));
        for (let done = 0; done < got; ) done += writeSync(fd, buffer, done, got - done, offset + done);
        offset += got;
        task?.advance(got);
      }
      fsyncSync(fd);
    } finally {
      closeSync(input);
    }
    task?.done();
    // Reading back takes as long as writing on a slow stick: it gets its own bar.
    task = progress?.start(`reading back ${target.path}`, size, 'bytes');
    // Drops the kernel's cached blocks so the read-back comes from the disk; through our own descriptor, so it is the
    // disk just written. A missing blockdev only weakens the check.
    if (target.kind === 'device')
      await runTool('blockdev', ['--flushbufs', `/proc/${process.pid}/fd/${fd}`], { allowFailure: true });
    actual = hashRange(fd, size, task);
    task?.done();
    if (target.kind === 'file') {
      // The rename moves a name: it must still be the file written through fd, not something put there since.
      const now = lstatSync(destination, { bigint: true });
      const written = fstatSync(fd, { bigint: true });
      if (now.ino !== written.ino || now.dev !== written.dev)
        throw new FailureError(`${destination} was replaced while the image was written`, {
          hint: 'check who else writes into that folder',
        });
    }
  } catch (error) {
    task?.abort();
    closeSync(fd);
    if (target.kind === 'file') rmSync(destination, { force: true });
    throw error;
  }
  closeSync(fd);
  const expected = imageHash.digest('hex');
  if (actual !== expected) {
    if (target.kind === 'file') rmSync(destination, { force: true });
    throw new FailureError(
      `read-back of ${target.path} does not match the image: image sha256 ${expected}, ${target.path} sha256 ${actual}`,
      { hint: 'the medium may be failing or fake-capacity; try another one' },
    );
  }
  if (target.kind === 'file') {
    renameSync(destination, target.path);
    const dir = openSync(dirname(target.path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const mibPerSecond = seconds > 0 ? size / (1 << 20) / seconds : 0;
  return { image, target: target.path, bytes: size, seconds, mibPerSecond, sha256: expected };
}
