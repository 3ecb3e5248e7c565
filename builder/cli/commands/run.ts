// `mvos run <image-dir>`: boots a built image in QEMU, on the terminal or until a console marker.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { FailureError, UserError } from '../../../common/errors.ts';
import { type QemuSpec, qemuArgv } from '../../../common/qemu/argv.ts';
import { BOOT_MEDIA, type BootFirmware, type BootMedia, bootFirmware, mediaDrive } from '../../../common/qemu/media.ts';
import { chooseAccel, type QemuExit, QemuRun } from '../../../common/qemu/runner.ts';
import { RESCUE_ARGS } from '../../media/grub.ts';
import { createProgress } from '../../pipeline/progress.ts';
import type { Command, CommandContext } from '../command.ts';

// What an image folder gives a direct kernel boot: kernel, initrd and the command line its manifest records.
export interface ImageBoot {
  dir: string;
  kernel: string;
  initrd: string;
  cmdline: string;
}

// The flags of `mvos run`, checked; later flags (--firmware, --media, --entry) add fields here and in runSpec.
export interface RunOptions {
  imageDir: string;
  expect?: string;
  timeoutS?: number;
  accel: 'auto' | 'kvm' | 'tcg';
  memoryMiB: number;
  cpus: number;
  append?: string;
  log: string;
  json: boolean;
  // Set: boot a built medium through firmware instead of the kernel directly.
  firmware?: BootFirmware;
  media?: BootMedia;
  entry: 'host' | 'rescue';
}

const DEFAULT_EXPECT_TIMEOUT_S = 300;
const BUILD_HINT =
  'build the image first: `mvos build recipes/host.yaml` writes images/<name>/ with vmlinuz, initrd and manifest.json';

function integerFlag(ctx: CommandContext, name: string, fallback: number, min: number): number {
  const raw = ctx.flags[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new UserError(`--${name} must be an integer ≥ ${min} (got "${String(raw)}")`);
  return value;
}

// Checks the flags and positionals of `mvos run` (no file access).
export function parseRunOptions(ctx: CommandContext): RunOptions {
  if (ctx.positionals.length !== 1) {
    throw new UserError(
      ctx.positionals.length === 0 ? 'no image folder given' : `one image folder, not ${ctx.positionals.length}`,
      { hint: 'usage: mvos run images/<name> [--expect MARKER]' },
    );
  }
  const imageDir = resolve(ctx.cwd, ctx.positionals[0]!);
  const accel = (ctx.flags.accel as string | undefined) ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg')
    throw new UserError(`--accel must be auto, kvm or tcg (got "${accel}")`);
  const expect = ctx.flags.expect as string | undefined;
  if (expect === '') throw new UserError('--expect needs a marker (a piece of a console line)');
  let timeoutS: number | undefined;
  if (ctx.flags.timeout !== undefined) {
    timeoutS = Number(ctx.flags.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0)
      throw new UserError(`--timeout must be a number of seconds > 0 (got "${String(ctx.flags.timeout)}")`);
  } else if (expect !== undefined) {
    timeoutS = DEFAULT_EXPECT_TIMEOUT_S;
  }
  const log =
    typeof ctx.flags.log === 'string'
      ? resolve(ctx.cwd, ctx.flags.log)
      : join(tmpdir(), `mvos-run-${basename(imageDir)}-${process.pid}.log`);
  const firmware = ctx.flags.firmware as string | undefined;
  if (firmware !== undefined && firmware !== 'bios' && firmware !== 'uefi')
    throw new UserError(`--firmware must be bios or uefi (got "${firmware}")`);
  const media = ctx.flags.media as string | undefined;
  if (media !== undefined && !(BOOT_MEDIA as readonly string[]).includes(media))
    throw new UserError(`--media must be ${BOOT_MEDIA.join(', ')} (got "${media}")`, {
      hint: 'disk is a SATA disk; virtio and nvme plug the raw disk in as a virtio-blk or NVMe drive',
    });
  const entry = (ctx.flags.entry as string | undefined) ?? 'host';
  if (entry !== 'host' && entry !== 'rescue') throw new UserError(`--entry must be host or rescue (got "${entry}")`);
  const mediaBoot = firmware !== undefined || media !== undefined;
  if (mediaBoot && ctx.flags.append !== undefined)
    throw new UserError('--append works only for a direct kernel boot', {
      hint: 'the boot menu on the medium sets the command line; drop --firmware/--media to boot the kernel directly',
    });
  return {
    firmware: mediaBoot ? ((firmware as BootFirmware | undefined) ?? 'uefi') : undefined,
    media: mediaBoot ? ((media as BootMedia | undefined) ?? 'cd') : undefined,
    entry,
    imageDir,
    expect,
    timeoutS,
    accel,
    memoryMiB: integerFlag(ctx, 'memory', 2048, 64),
    cpus: integerFlag(ctx, 'cpus', 2, 1),
    append: ctx.flags.append as string | undefined,
    log,
    json: ctx.json,
  };
}

// Reads <image-dir>/manifest.json's boot.cmdline and finds vmlinuz and initrd beside it.
export async function readImageBoot(dir: string): Promise<ImageBoot> {
  if (!existsSync(dir)) throw new UserError(`image folder ${dir} does not exist`, { hint: BUILD_HINT });
  const manifestFile = join(dir, 'manifest.json');
  let manifest: unknown;
  try {
    manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UserError(
      missing ? `${manifestFile} is missing` : `${manifestFile} is not valid JSON: ${(error as Error).message}`,
      { hint: BUILD_HINT },
    );
  }
  const cmdline = (manifest as { boot?: { cmdline?: unknown } } | null)?.boot?.cmdline;
  if (typeof cmdline !== 'string') {
    throw new UserError(`${manifestFile} has no boot.cmdline (a string)`, {
      hint: `${BUILD_HINT}; an image built before boot.cmdline existed needs a rebuild`,
    });
  }
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd');
  for (const file of [kernel, initrd])
    if (!existsSync(file))
      throw new UserError(`${file} is missing`, { hint: `${BUILD_HINT} (with the kernel+initrd output)` });
  return { dir, kernel, initrd, cmdline };
}

// The medium a media boot uses: the ISO as a CD, the raw disk as a disk, and for a USB stick the raw disk when built,
// else the ISO.
export function mediumFile(dir: string, media: BootMedia): string {
  const name = basename(dir);
  const iso = join(dir, `${name}.iso`);
  const raw = join(dir, `${name}.raw`);
  const file = media === 'cd' ? iso : media === 'usb' ? (existsSync(raw) ? raw : iso) : raw;
  if (!existsSync(file))
    throw new UserError(`${file} is missing`, {
      hint: `add \`${file.endsWith('.iso') ? 'iso' : 'raw'}\` to the recipe's outputs and build again`,
    });
  return file;
}

// The QEMU spec for a media boot: firmware (UEFI with a fresh NVRAM copy beside the log) and the medium as boot device
// 0.
export function mediaSpec(dir: string, options: RunOptions, accel: 'kvm' | 'tcg'): QemuSpec {
  return {
    machine: 'q35',
    accel,
    cpus: options.cpus,
    memoryMiB: options.memoryMiB,
    firmware: bootFirmware(options.firmware!, `${options.log}.OVMF_VARS.fd`),
    drives: [mediaDrive(mediumFile(dir, options.media!), options.media!)],
    usb: 'ehci',
    serial: 'stdio',
    noReboot: true,
  };
}

// The QEMU spec for a direct kernel boot of the image on q35, serial console on stdio.
export function runSpec(boot: ImageBoot, options: RunOptions, accel: 'kvm' | 'tcg'): QemuSpec {
  const append = [boot.cmdline, options.entry === 'rescue' ? RESCUE_ARGS : undefined, options.append]
    .filter((part) => part?.trim())
    .join(' ');
  return {
    machine: 'q35',
    accel,
    cpus: options.cpus,
    memoryMiB: options.memoryMiB,
    kernel: boot.kernel,
    initrd: boot.initrd,
    append,
    serial: 'stdio',
    noReboot: true,
  };
}

// Whether `mvos run --expect` shows a status line while it waits: on a terminal, and only when that terminal is not
// where the console itself goes (stdout, unless --json, which keeps stderr quiet).
export function showsBootStatus(json: boolean, stdout: { isTTY?: boolean }, stderr: { isTTY?: boolean }): boolean {
  return !json && stdout.isTTY !== true && stderr.isTTY === true;
}

function exitText(exit: QemuExit): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

async function run(ctx: CommandContext): Promise<number> {
  const options = parseRunOptions(ctx);
  const boot = await readImageBoot(options.imageDir);
  const choice = await chooseAccel(options.accel);
  if (choice.warning) ctx.err(`warning: ${choice.warning}`);
  const spec = options.media ? mediaSpec(boot.dir, options, choice.accel) : runSpec(boot, options, choice.accel);
  if (!options.media && !/(^|\s)console=ttyS0/.test(spec.append ?? ''))
    ctx.err('warning: the kernel command line names no serial console (console=ttyS0): the console may stay silent');
  const argv = qemuArgv(spec);
  if (ctx.debug) ctx.err(`qemu-system-x86_64 ${argv.join(' ')}`);
  const interactive =
    options.expect === undefined && !options.json && process.stdin.isTTY === true && process.stdout.isTTY === true;
  if (interactive)
    ctx.err(`console of ${boot.dir} on this terminal (${choice.accel}); Ctrl-C stops QEMU; serial log: ${options.log}`);
  const qemu = await QemuRun.start({
    argv,
    log: options.log,
    interactive,
    input: options.media !== undefined && options.entry === 'rescue',
    echo: options.json ? undefined : (chunk) => process.stdout.write(chunk),
  });
  // The menu's rescue entry has the hotkey r; GRUB reads it from the serial console while the menu waits.
  if (options.media && options.entry === 'rescue' && !interactive) {
    qemu.waitFor('rescue (no agent', 120_000).then(
      () => qemu.send('r'),
      () => undefined,
    );
  }
  let interrupted: string | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = signal;
    void qemu.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (options.expect !== undefined) {
      const status = showsBootStatus(options.json, process.stdout, process.stderr)
        ? createProgress(process.stderr, false, { color: ctx.color }).start(
            `waiting for ${JSON.stringify(options.expect)} (${choice.accel}, gives up after ${options.timeoutS} s)`,
            undefined,
            { transient: true },
          )
        : undefined;
      const ms = await qemu
        .waitFor(options.expect, options.timeoutS! * 1000)
        .catch((error: unknown) => {
          if (interrupted)
            throw new FailureError(`interrupted by ${interrupted} before ${JSON.stringify(options.expect)} appeared`);
          throw error;
        })
        .finally(() => status?.abort());
      await qemu.stop();
      if (options.json)
        ctx.out(JSON.stringify({ marker: options.expect, ms, accel: choice.accel, log: options.log }, null, 2));
      else
        ctx.out(
          `\nmvos run: saw ${JSON.stringify(options.expect)} after ${(ms / 1000).toFixed(1)} s (${choice.accel}); serial log: ${options.log}`,
        );
      return 0;
    }
    const exit = await untilExit(qemu, options.timeoutS);
    if (!exit) {
      await qemu.stop();
      throw qemu.failure(`still running after ${options.timeoutS} s`);
    }
    if (options.json)
      ctx.out(
        JSON.stringify({ marker: null, ms: qemu.elapsedMs, accel: choice.accel, log: options.log, exit }, null, 2),
      );
    if (interrupted) return 130;
    if (exit.code !== 0) throw qemu.failure(`QEMU ${exitText(exit)}`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await qemu.stop();
  }
}

async function untilExit(qemu: QemuRun, timeoutS: number | undefined): Promise<QemuExit | undefined> {
  if (timeoutS === undefined) return qemu.exited;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((done) => (timer = setTimeout(() => done(undefined), timeoutS * 1000)));
  try {
    return await Promise.race([qemu.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

// The run verb.
export const runCommand: Command = {
  name: 'run',
  summary: 'boot a built image in QEMU (on this terminal, or until a console marker)',
  usage:
    'mvos run <image-dir> [--firmware bios|uefi] [--media cd|usb|disk|virtio|nvme] [--entry host|rescue] [--expect MARKER] ' +
    '[--timeout SECONDS] [--accel auto|kvm|tcg] [--memory MiB] [--cpus N] [--append ARGS] [--log FILE] [--json]',
  description: [
    'Boots <image-dir>/vmlinuz and <image-dir>/initrd on a q35 machine with the kernel command line from ' +
      '<image-dir>/manifest.json (boot.cmdline) plus --append.',
    'Without --expect the serial console is this terminal until the guest powers off (exit 0) or QEMU fails (exit 1).',
    'With --expect MARKER it exits 0 as soon as a console line contains MARKER (and stops QEMU), or 1 at the ' +
      'timeout (default 300 s) with the end of the console.',
    'KVM is probed with a timeout; --accel auto falls back to TCG with a warning.',
    'With --firmware or --media it boots a built medium through firmware instead: SeaBIOS (bios) or OVMF with a ' +
      'fresh NVRAM copy (uefi, the default),',
    'the ISO as an IDE CD (cd, the default), the raw disk as a disk (disk), or the raw disk (else the ISO) as a USB' +
      ' stick on EHCI (usb); writes go to a snapshot.',
    '--entry rescue boots the rescue entry (the host without its agent, with a console shell): directly, or by its ' +
      'menu hotkey r.',
  ].join('\n'),
  flags: {
    expect: { type: 'string' },
    timeout: { type: 'string' },
    accel: { type: 'string' },
    memory: { type: 'string' },
    cpus: { type: 'string' },
    append: { type: 'string' },
    log: { type: 'string' },
    firmware: { type: 'string' },
    media: { type: 'string' },
    entry: { type: 'string' },
  },
  flagHelp: {
    expect: 'exit 0 once a console line contains this text',
    timeout: 'give up after this many seconds (default 300 with --expect, none without)',
    accel: 'auto (default: KVM when it works, else TCG), kvm or tcg',
    memory: 'guest memory in MiB (default 2048)',
    cpus: 'vCPUs (default 2)',
    append: "more kernel command line after the manifest's",
    log: 'where the serial log goes (default: a file in the temp folder)',
    firmware: 'boot a built medium through bios (SeaBIOS) or uefi (OVMF, default)',
    media: 'the medium: cd (the ISO, default), usb, or the raw disk as disk (SATA), virtio (virtio-blk) or nvme (NVMe)',
    entry: 'host (default) or rescue (no agent, a console shell)',
  },
  json: true,
  run,
};
