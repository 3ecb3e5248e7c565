// `mvos run` as a person runs it, against a stub image (a tiny multiboot kernel that prints its command line and a
// marker).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../../../common/errors.ts';
import { stubKernel } from '../../../qa/lib/stub-kernel.ts';
import type { CommandContext } from '../command.ts';
import { mediaSpec, mediumFile, parseRunOptions, readImageBoot, runSpec, showsBootStatus } from './run.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'mvos-run-test-'));

async function image(
  name: string,
  after: 'halt' | 'poweroff',
  manifest: unknown = { boot: { cmdline: 'console=ttyS0 from-manifest' } },
): Promise<string> {
  // null: no manifest.json at all.
  const path = join(dir, name);
  await mkdir(path, { recursive: true });
  await writeFile(join(path, 'vmlinuz'), stubKernel({ marker: 'STUB-READY', after }));
  await writeFile(join(path, 'initrd'), 'not read by the stub');
  if (manifest !== null)
    await writeFile(join(path, 'manifest.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  return path;
}

function mvos(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('./mvos', args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function ctx(positionals: string[], flags: CommandContext['flags'] = {}): CommandContext {
  return { flags, positionals, json: false, debug: false, color: false, out: () => {}, err: () => {}, cwd: '/work' };
}

test("--expect: exit 0 at the marker, --json gives marker, ms, accel and log; the command line is the manifest's plus --append", async () => {
  const halting = await image('halting', 'halt');
  const log = join(dir, 'expect.log');
  const { code, stdout, stderr } = await mvos(
    'run',
    halting,
    '--accel',
    'tcg',
    '--expect',
    'STUB-READY',
    '--append',
    'extra=1',
    '--log',
    log,
    '--json',
  );
  assert.is(code, 0, stderr);
  const result = JSON.parse(stdout);
  assert.equal(Object.keys(result), ['marker', 'ms', 'accel', 'log']);
  assert.is(result.marker, 'STUB-READY');
  assert.is(result.accel, 'tcg');
  assert.is(result.log, log);
  assert.ok(result.ms > 0 && result.ms < 60_000);
  assert.match(await readFile(log, 'utf8'), /^cmdline: \S+vmlinuz console=ttyS0 from-manifest extra=1$/m);
});

test('--expect a marker that never comes: exit 1 at the timeout with the end of the console', async () => {
  const halting = await image('halting2', 'halt');
  const { code, stderr } = await mvos('run', halting, '--accel', 'tcg', '--expect', 'NEVER', '--timeout', '2');
  assert.is(code, 1);
  assert.match(stderr, 'error: did not see "NEVER" on the console within 2 s');
  assert.match(stderr, '| STUB-READY');
  assert.match(stderr, /full serial log: \S+\.log/);
});

test('a status line while waiting only on a terminal that is not the console, and never with --json', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  assert.ok(showsBootStatus(false, pipe, tty), 'console to a file or pipe, stderr on the terminal');
  assert.not.ok(showsBootStatus(false, tty, tty), 'the console is on the terminal: nothing extra there');
  assert.not.ok(showsBootStatus(false, pipe, pipe), 'no terminal at all');
  assert.not.ok(showsBootStatus(true, pipe, tty), '--json keeps stderr quiet');
});

test('without --expect the console goes to stdout and a guest that powers off ends with 0', async () => {
  const off = await image('off', 'poweroff');
  const { code, stdout, stderr } = await mvos('run', off, '--accel', 'tcg');
  assert.is(code, 0, stderr);
  assert.match(stdout, 'STUB-READY');
});

test('an image without manifest or boot.cmdline is a user error that says to build it', async () => {
  const bare = await image('bare', 'halt', null);
  const missing = await mvos('run', bare, '--accel', 'tcg');
  assert.is(missing.code, 2);
  assert.match(missing.stderr, `error: ${join(bare, 'manifest.json')} is missing`);
  assert.match(missing.stderr, 'hint: build the image first: `mvos build');
  const old = await image('old', 'halt', { boot: {} });
  const noCmdline = await mvos('run', old);
  assert.is(noCmdline.code, 2);
  assert.match(noCmdline.stderr, 'has no boot.cmdline (a string)');
  const wrong = await mvos('run', old, '--accel', 'fast');
  assert.is(wrong.code, 2);
  assert.match(wrong.stderr, '--accel must be auto, kvm or tcg (got "fast")');
});

test('readImageBoot names a missing kernel', async () => {
  const noKernel = await image('nokernel', 'halt');
  await rm(join(noKernel, 'vmlinuz'));
  const error = await readImageBoot(noKernel).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, UserError);
  assert.match((error as Error).message, `${join(noKernel, 'vmlinuz')} is missing`);
});

test('options and spec: defaults, checks, and a q35 direct kernel boot on stdio', () => {
  const options = parseRunOptions(ctx(['images/host'], { expect: 'READY', append: 'mvos.shell=1' }));
  assert.is(options.imageDir, '/work/images/host');
  assert.is(options.timeoutS, 300);
  assert.is(options.memoryMiB, 2048);
  assert.is(options.accel, 'auto');
  assert.is(parseRunOptions(ctx(['x'])).timeoutS, undefined);
  assert.throws(() => parseRunOptions(ctx([])), /no image folder given/);
  assert.throws(() => parseRunOptions(ctx(['x'], { memory: '1.5' })), /--memory must be an integer ≥ 64/);
  assert.throws(() => parseRunOptions(ctx(['x'], { timeout: '-1' })), /--timeout must be a number of seconds > 0/);
  const spec = runSpec(
    { dir: '/i', kernel: '/i/vmlinuz', initrd: '/i/initrd', cmdline: 'console=ttyS0' },
    options,
    'tcg',
  );
  assert.equal(spec, {
    machine: 'q35',
    accel: 'tcg',
    cpus: 2,
    memoryMiB: 2048,
    kernel: '/i/vmlinuz',
    initrd: '/i/initrd',
    append: 'console=ttyS0 mvos.shell=1',
    serial: 'stdio',
    noReboot: true,
  });
});

test('--firmware, --media and --entry: checks, defaults, the medium file and the firmware spec', async () => {
  assert.is(parseRunOptions(ctx(['x'])).media, undefined);
  assert.is(parseRunOptions(ctx(['x'])).entry, 'host');
  const uefi = parseRunOptions(ctx(['x'], { media: 'usb' }));
  assert.is(uefi.firmware, 'uefi');
  assert.is(parseRunOptions(ctx(['x'], { firmware: 'bios' })).media, 'cd');
  assert.throws(() => parseRunOptions(ctx(['x'], { firmware: 'efi' })), /--firmware must be bios or uefi/);
  assert.throws(() => parseRunOptions(ctx(['x'], { media: 'floppy' })), /--media must be cd, usb, disk, virtio, nvme/);
  assert.throws(() => parseRunOptions(ctx(['x'], { entry: 'other' })), /--entry must be host or rescue/);
  assert.throws(
    () => parseRunOptions(ctx(['x'], { media: 'cd', append: 'a' })),
    /--append works only for a direct kernel boot/,
  );
  const rescue = parseRunOptions(ctx(['x'], { entry: 'rescue' }));
  assert.is(
    runSpec({ dir: '/i', kernel: '/i/k', initrd: '/i/i', cmdline: 'console=ttyS0' }, rescue, 'tcg').append,
    'console=ttyS0 mvos.agent=off mvos.shell=1',
  );
  const media = join(dir, 'media-host');
  await mkdir(media, { recursive: true });
  assert.throws(() => mediumFile(media, 'cd'), /media-host\.iso is missing/);
  await writeFile(join(media, 'media-host.iso'), '');
  assert.is(mediumFile(media, 'usb'), join(media, 'media-host.iso'));
  await writeFile(join(media, 'media-host.raw'), '');
  assert.is(mediumFile(media, 'usb'), join(media, 'media-host.raw'));
  const spec = mediaSpec(media, { ...uefi, log: join(dir, 'run.log') }, 'tcg');
  assert.is(spec.firmware!.type, 'ovmf');
  assert.is(spec.firmware!.vars, join(dir, 'run.log.OVMF_VARS.fd'));
  assert.equal(spec.drives, [
    { file: join(media, 'media-host.raw'), format: 'raw', interface: 'usb', bootIndex: 0, snapshot: true },
  ]);
  assert.is(spec.kernel, undefined);
  // A disk of any bus is the raw disk: SATA (AHCI on q35), virtio-blk or NVMe.
  for (const [kind, iface] of [
    ['disk', 'ide'],
    ['virtio', 'virtio'],
    ['nvme', 'nvme'],
  ] as const) {
    const disk = mediaSpec(media, { ...uefi, media: kind, log: join(dir, 'run.log') }, 'tcg');
    assert.equal(
      disk.drives!.map((d) => [d.file, d.interface]),
      [[join(media, 'media-host.raw'), iface]],
    );
  }
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test.run();
