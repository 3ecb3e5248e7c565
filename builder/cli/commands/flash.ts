// `mvos flash <image> <device>`: write a built image to a whole disk, after checks and a confirmation.
import { createInterface } from 'node:readline/promises';
import { UserError } from '../../../common/errors.ts';
import {
  checkTarget,
  confirmQuestion,
  describeTarget,
  discardTarget,
  flashImage,
  formatSize,
  imageSize,
  inspectTarget,
  openTarget,
} from '../../media/flash.ts';
import { createProgress } from '../../pipeline/progress.ts';
import type { Command, CommandContext } from '../command.ts';

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

async function flash(ctx: CommandContext): Promise<number> {
  const [image, device, ...extra] = ctx.positionals;
  if (!image || !device || extra.length > 0)
    throw new UserError('expected an image and a device', {
      hint: 'usage: mvos flash <image> <device> [--yes] [--to-file]',
    });
  const toFile = ctx.flags['to-file'] === true;
  const size = imageSize(image);
  const target = await inspectTarget(device, { toFile });
  // Human lines go to stderr under --json so stdout stays one JSON object.
  const say = ctx.json ? ctx.err : ctx.out;
  say(`image: ${image} ${formatSize(size)}`);
  for (const line of describeTarget(target)) say(line);
  await checkTarget(target, size, image, { toFile });
  if (ctx.flags.yes !== true && process.stdin.isTTY !== true)
    throw new UserError('not confirmed: stdin is not a terminal', { hint: 'pass --yes to write without asking' });
  // Opened before the question and written through the same descriptor: the disk the answer is about is the one written
  // (held O_EXCL meanwhile).
  const opened = openTarget(target);
  if (ctx.flags.yes !== true) {
    const answer = await ask(confirmQuestion(image, size, target)).catch((error: unknown) => {
      discardTarget(target, opened);
      throw error;
    });
    if (answer.trim() !== 'yes') {
      discardTarget(target, opened);
      throw new UserError('not confirmed: nothing was written');
    }
  }
  const result = await flashImage(image, target, createProgress(process.stderr, ctx.json), opened);
  if (ctx.json) ctx.out(JSON.stringify({ ...result, verified: true }, null, 2));
  else
    ctx.out(
      `wrote ${result.bytes} bytes to ${result.target} in ${result.seconds.toFixed(1)} s (${result.mibPerSecond.toFixed(1)} MiB/s); read back, sha256 ${result.sha256} matches`,
    );
  return 0;
}

// The flash verb.
export const flashCommand: Command = {
  name: 'flash',
  summary: 'write a built image to a whole disk (or a file) and verify it',
  usage: 'mvos flash <image> <device> [--yes] [--to-file] [--json]',
  description:
    'Writes <image> (e.g. images/multiverse-host/multiverse-host.raw) to <device> in 4 MiB blocks, syncs, then reads it back and compares sha256. ' +
    'Refuses, writing nothing: a missing path, a partition (the image has its own partition table), the disk holding /, a device that is mounted, has a mounted partition or is swap, ' +
    'a device smaller than the image, a path that names another disk by the time it is opened (the opened device number must be the checked one), ' +
    'and a regular file unless --to-file (then written via a temporary file, created exclusively beside it, and ' +
    'rename).',
  flags: { yes: { type: 'boolean', short: 'y' }, 'to-file': { type: 'boolean' } },
  flagHelp: {
    yes: 'write without asking (required when stdin is not a terminal)',
    'to-file': 'allow a regular file as the target',
  },
  json: true,
  run: flash,
};
