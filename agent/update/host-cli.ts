// `mvos update …` on the host itself (/usr/bin/mvos, the agent bundle in another mode): status, a bundle pushed from a
// file or a disk to the running agent's socket, and in the rescue console, where no agent runs, the same apply and
// rollback done directly (`mvos update apply /dev/sdb`).
import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import type { UpdateView } from '../../common/api-types.ts';
import { FailureError, UserError } from '../../common/errors.ts';
import { updateLines } from '../../common/update/view-lines.ts';
import { readHostConfig } from '../config.ts';
import { ControlError } from '../controls.ts';
import { askAgent, refused } from '../host-socket.ts';
import { hostSlotOptions } from './host-slots.ts';
import { UpdateService } from './service.ts';

const USAGE = [
  'usage: mvos update status | push FILE|DEVICE [--no-reboot] | apply FILE|DEVICE | rollback [--no-reboot]',
  '',
  '  status    the slots, their versions and verdicts',
  '  push      send a bundle to the running agent (checked whole, written to the slot that did not boot, tried once)',
  '  apply     the same without an agent (the rescue console); reboot afterwards to try it',
  '  rollback  boot the other slot from now on',
].join('\n');

// A bundle's bytes: a file, or a whole disk (its size from sysfs: a block device's stat says 0).
async function source(path: string | undefined): Promise<{ stream: Readable; size: number }> {
  if (!path) throw new UserError('give the bundle: a file or a disk that holds it', { hint: USAGE.split('\n')[0] });
  const info = await stat(path).catch(() => {
    throw new UserError(`no such file or device: ${path}`);
  });
  let size = info.size;
  if (info.isBlockDevice()) {
    const name = basename(await realpath(path));
    size = Number((await readFile(`/sys/class/block/${name}/size`, 'utf8')).trim()) * 512;
  } else if (!info.isFile()) throw new UserError(`${path} is neither a file nor a disk`);
  return { stream: createReadStream(path), size };
}

// The update service as the rescue console uses it: the image's config, the state partition, the ESP by label.
async function direct(): Promise<UpdateService> {
  const config = await readHostConfig('/etc/mvos/host.json');
  return UpdateService.open({
    ...(config.update ? { config: config.update } : {}),
    host: config.name,
    version: config.version,
    stateDir: '/var/lib/mvos',
    runDir: '/run/mvos',
    ...(await hostSlotOptions(config.name, config.version, '/run/mvos')),
    log: (line) => process.stderr.write(`${line}\n`),
  });
}

function printView(view: UpdateView): void {
  for (const line of updateLines(view)) process.stdout.write(`${line}\n`);
}

// Runs one `mvos update` command on the host; returns the exit code.
export async function hostUpdateCli(argv: string[]): Promise<number> {
  const [verb, target] = argv.filter((a) => !a.startsWith('--'));
  const reboot = !argv.includes('--no-reboot');
  const query = reboot ? '?reboot=yes' : '?reboot=no';
  const unknown = argv.filter((a) => a.startsWith('--') && a !== '--no-reboot');
  if (unknown.length > 0) throw new UserError(`unknown option ${unknown[0]}`, { hint: USAGE.split('\n')[0] });
  try {
    switch (verb) {
      case 'status': {
        const answer = await askAgent('GET', '/api/update');
        printView(answer ? (answer.json as UpdateView) : (await direct()).view());
        return 0;
      }
      case 'push': {
        const body = await source(target);
        const answer = await askAgent('POST', `/api/update${query}`, body);
        if (!answer)
          throw new FailureError('no agent answers on its socket', {
            hint: 'in the rescue console use `mvos update apply`',
          });
        if (answer.status !== 200) throw refused(answer);
        const applied = answer.json as { slot: string; version: string; rebooting: boolean };
        process.stdout.write(
          `${applied.version} written to slot ${applied.slot}${applied.rebooting ? '; rebooting into it' : '; the next boot tries it once'}\n`,
        );
        return 0;
      }
      case 'apply': {
        if (await askAgent('GET', '/api/update'))
          throw new UserError('the agent is running: it applies bundles itself', { hint: 'use `mvos update push`' });
        const body = await source(target);
        const applied = await (await direct()).apply(body.stream, 'console', false);
        process.stdout.write(`${applied.version} written to slot ${applied.slot}; reboot to try it once\n`);
        return 0;
      }
      case 'rollback': {
        const answer = await askAgent('POST', `/api/update/rollback${query}`);
        if (answer && answer.status !== 200) throw refused(answer);
        const view = answer ? (answer.json as UpdateView) : await (await direct()).rollback('console', false);
        process.stdout.write(`the host boots slot ${view.slots.find((s) => s.bootSlot)?.slot} from now on\n`);
        return 0;
      }
      default:
        process.stdout.write(`${USAGE}\n`);
        return verb === undefined || verb === 'help' ? 0 : 2;
    }
  } catch (error) {
    if (error instanceof ControlError) throw new UserError(error.message);
    throw error;
  }
}
