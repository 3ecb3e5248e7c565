// `mvos agent [images/<host>] --state-dir DIR`: runs a built host image's agent on this machine (under TCG), with the
// image's own guest images.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../../common/errors.ts';
import { unpackInitramfs } from '../../archive/unpack.ts';
import { ContentCache } from '../../inputs/cache.ts';
import type { Command, CommandContext } from '../command.ts';

const AGENT_MAIN = fileURLToPath(new URL('../../../agent/main.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../../node_modules/tsx/dist/esm/index.mjs', import.meta.url));
const DEFAULT_IMAGE = 'images/multiverse-host';

// The agent's arguments for an image unpacked at `root` (exported for the test of the flag mapping).
export function agentArgs(root: string, ctx: Pick<CommandContext, 'flags' | 'cwd'>): string[] {
  const stateDir = ctx.flags['state-dir'];
  if (typeof stateDir !== 'string' || stateDir === '')
    throw new UserError('--state-dir is required', {
      hint: 'the agent keeps VM disks, NVRAM and records there: mvos agent --state-dir /tmp/mvos-state',
    });
  const state = resolve(ctx.cwd, stateDir);
  const args = [
    '--root',
    root,
    '--state-dir',
    state,
    '--run-dir',
    typeof ctx.flags['run-dir'] === 'string' ? resolve(ctx.cwd, ctx.flags['run-dir']) : join(state, 'run'),
  ];
  for (const flag of ['accel', 'kvm-timeout', 'stop-grace'] as const) {
    if (typeof ctx.flags[flag] === 'string') args.push(`--${flag}`, ctx.flags[flag] as string);
  }
  if (ctx.flags['stop-vms-on-exit']) args.push('--stop-vms-on-exit');
  return args;
}

async function run(ctx: CommandContext): Promise<number> {
  if (ctx.positionals.length > 1)
    throw new UserError(`one image folder, not ${ctx.positionals.length}`, {
      hint: 'usage: mvos agent [images/<host>] --state-dir DIR',
    });
  const imageDir = resolve(ctx.cwd, ctx.positionals[0] ?? DEFAULT_IMAGE);
  const initrd = join(imageDir, 'initrd');
  if (!existsSync(initrd))
    throw new UserError(`${imageDir} has no initrd`, {
      hint: 'build the host first: `mvos build recipes/host.yaml` (its outputs must include kernel+initrd)',
    });
  const root = await unpackInitramfs(initrd, join(ContentCache.fromEnvironment().root, 'roots'));
  const args = ['--import', TSX, AGENT_MAIN, ...agentArgs(root, ctx)];
  ctx.err(`mvos: running the agent of ${imageDir} (root unpacked at ${root})`);
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  // The agent decides what a signal means (by default the VMs keep running); we only pass it on.
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit(code ?? (signal ? 1 : 0))));
}

// The agent verb.
export const agentCommand: Command = {
  name: 'agent',
  summary: "run a built host image's agent here (its controller and rescue VMs under QEMU)",
  usage:
    'mvos agent [images/<host>] --state-dir DIR [--run-dir DIR] [--accel auto|kvm|tcg] [--stop-grace S] ' +
    '[--stop-vms-on-exit]',
  description:
    'Unpacks the image once (by content, in the cache) and runs its agent with that folder as the root of the image' +
    ' paths, so the same guest images, firmware and NVRAM stores run as on the host. The VMs outlive the agent ' +
    'unless --stop-vms-on-exit; a restarted agent re-attaches to them.',
  flags: {
    'state-dir': { type: 'string' },
    'run-dir': { type: 'string' },
    accel: { type: 'string' },
    'kvm-timeout': { type: 'string' },
    'stop-grace': { type: 'string' },
    'stop-vms-on-exit': { type: 'boolean' },
  },
  flagHelp: {
    'state-dir': 'VM disks, NVRAM copies, records and logs (required)',
    'run-dir': 'status.json and the API socket (default STATE/run)',
    accel: 'auto probes KVM and falls back to TCG (default auto)',
    'kvm-timeout': 'seconds the KVM probe may take (default 5)',
    'stop-grace': 'seconds a VM may take to power off before it is quit (default 10)',
    'stop-vms-on-exit': 'stop the VMs when the agent ends',
  },
  run,
};
