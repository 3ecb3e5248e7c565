// `mvos vm list|status|start|stop|logs|console|checkpoint|rollback`: the agent's controls from a shell; --json prints
// the API's own answer.
import type { VmView } from '../../../common/api-types.ts';
import { FailureError, UserError } from '../../../common/errors.ts';
import { renderTable } from '../../../common/table.ts';
import { CHECKPOINT_COLUMNS, VM_COLUMNS } from '../../../common/view-columns.ts';
import type { Command, CommandContext, Flags } from '../command.ts';
import { client, connection, connectionHelp, print, vmName, vmPath } from './agent-connection.ts';
import { vmNet, vmRules } from './net.ts';
import { DEFAULT_SOCKET } from './vm-client.ts';
import { runConsole } from './vm-console.ts';

const VM_LIST = [VM_COLUMNS.name, VM_COLUMNS.role, VM_COLUMNS.launch, VM_COLUMNS.state, VM_COLUMNS.health];
const CHECKPOINT_LIST = [
  CHECKPOINT_COLUMNS.id,
  CHECKPOINT_COLUMNS.label,
  CHECKPOINT_COLUMNS.created,
  CHECKPOINT_COLUMNS.sizeKiB,
  CHECKPOINT_COLUMNS.flags,
];

async function list(ctx: CommandContext): Promise<number> {
  const vms = await client(ctx).answer('GET /api/vms', {});
  return print(ctx, vms, () => renderTable(VM_LIST, vms));
}

function describe(vm: VmView): string[] {
  const lines = [`${vm.name}: ${vm.state} (${vm.role}, ${vm.launch})`];
  if (vm.pid) lines.push(`  pid ${vm.pid}, started ${vm.startedAt ?? '?'}${vm.readyAt ? `, ready ${vm.readyAt}` : ''}`);
  if (vm.failure)
    lines.push(`  ${vm.state === 'failed' ? 'failed' : 'last failed'} at ${vm.failure.at}: ${vm.failure.reason}`);
  if (vm.pinning) {
    const p = vm.pinning;
    lines.push(
      `  pinning: ${p.vcpus.map((v) => `vCPU ${v.vcpu}→CPU ${v.cpu}`).join(', ') || 'none'}; emulator ${p.emulator.join(',') || '-'}; housekeeping ${p.housekeeping.join(',') || '-'}`,
    );
    if (p.degraded) lines.push(`  pinning degraded: ${p.degraded}`);
  }
  lines.push(
    '  history:',
    ...vm.history.slice(-10).map((h) => `    ${h.at} ${h.event}${h.detail ? `: ${h.detail}` : ''}`),
  );
  return lines;
}

async function status(ctx: CommandContext): Promise<number> {
  const vm = await client(ctx).answer('GET /api/vms/{name}', { name: vmName(ctx) });
  return print(ctx, vm, () => describe(vm));
}

function action(verb: 'start' | 'stop') {
  return async (ctx: CommandContext): Promise<number> => {
    const vm = await client(ctx).answer(`POST /api/vms/{name}/${verb}`, { name: vmName(ctx) });
    // The agent answers once the start is over; one that ended in failure is a failure here too.
    if (verb === 'start' && vm.state === 'failed') {
      throw new FailureError(`${vm.name} failed to start${vm.failure ? `: ${vm.failure.reason}` : ''}`, {
        hint: `\`mvos vm logs ${vm.name}\` shows its console, \`mvos vm status ${vm.name}\` its history`,
      });
    }
    return print(ctx, vm, () => [`${vm.name}: ${vm.state}`]);
  };
}

function tailFlag(ctx: CommandContext): number | undefined {
  const tail = ctx.flags.tail as string | undefined;
  if (tail === undefined) return undefined;
  if (!/^[0-9]+$/.test(tail)) throw new UserError(`--tail must be a number of bytes (got "${tail}")`);
  return Number(tail);
}

async function logs(ctx: CommandContext): Promise<number> {
  const name = vmName(ctx);
  const agent = client(ctx);
  const tail = tailFlag(ctx);
  if (!ctx.flags.follow) {
    const text = (await agent.call('GET', `${vmPath(name)}/console${tail === undefined ? '' : `?tail=${tail}`}`)).text;
    if (text) ctx.out(text.replace(/\n$/, ''));
    return 0;
  }
  // Whole lines go out as they complete, so ctx.out's newline never splits one.
  let partial = '';
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  await agent.follow(
    `${vmPath(name)}/console/stream`,
    (text) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const line of lines) ctx.out(line);
    },
    stop.signal,
  );
  if (partial) ctx.out(partial);
  return 0;
}

async function consoleCommand(ctx: CommandContext): Promise<number> {
  return runConsole(client(ctx), vmName(ctx), { force: ctx.flags.force === true });
}

async function checkpoint(ctx: CommandContext): Promise<number> {
  const name = vmName(ctx);
  const agent = client(ctx);
  if (ctx.flags.list) {
    const list = await agent.answer('GET /api/vms/{name}/checkpoints', { name });
    return print(ctx, list, () => renderTable(CHECKPOINT_LIST, list));
  }
  const label = ctx.flags.label as string | undefined;
  const made = await agent.answer('POST /api/vms/{name}/checkpoints', { name }, label ? { label } : {});
  return print(ctx, made, () => [`${name}: checkpoint ${made.id}${made.label ? ` (${made.label})` : ''} taken`]);
}

async function rollback(ctx: CommandContext): Promise<number> {
  const name = vmName(ctx);
  const id = ctx.positionals[1];
  if (!id)
    throw new UserError('give a checkpoint id after the VM name', {
      hint: `\`mvos vm checkpoint ${name} --list\` lists them`,
    });
  const body = ctx.flags.restart ? { restart: true } : {};
  const answer = await client(ctx).answer('POST /api/vms/{name}/checkpoints/{id}/rollback', { name, id }, body);
  return print(ctx, answer, () => [`${name}: rolled back to ${answer.rolledBackTo} (${answer.vm.state})`]);
}

function sub(
  name: string,
  summary: string,
  usage: string,
  run: Command['run'],
  extra: { flags?: Flags; help?: Record<string, string>; json?: boolean } = {},
): Command {
  return {
    name,
    summary,
    usage: `mvos vm ${usage}`,
    flags: { ...connection, ...extra.flags },
    flagHelp: { ...connectionHelp, ...extra.help },
    json: extra.json ?? true,
    run,
  };
}

// The vm verb and its subcommands.
export const vmCommand: Command = {
  name: 'vm',
  summary: "control a running host's VMs through its agent",
  usage: 'mvos vm <list|status|start|stop|logs|console|checkpoint|net|rules|rollback>',
  description: `Talks to the agent's HTTP API: on the host over its root-only socket (${DEFAULT_SOCKET}), from elsewhere with --host URL and a login (--user, MVOS_PASSWORD, MVOS_OTP). --json prints what the API answers.`,
  flags: {},
  flagHelp: {},
  subcommands: [
    sub('list', 'every VM with its state and health', 'list [--json]', list),
    sub('status', 'one VM: state, CPU pinning, health history', 'status NAME [--json]', status),
    sub('start', 'start a VM (answers once it is up)', 'start NAME [--json]', action('start')),
    sub('stop', 'stop a VM', 'stop NAME [--json]', action('stop')),
    sub('logs', "a VM's serial console (--follow for live output)", 'logs NAME [--tail BYTES] [--follow]', logs, {
      flags: { tail: { type: 'string' }, follow: { type: 'boolean', short: 'f' } },
      help: {
        tail: 'only the last BYTES of the log',
        follow: 'keep printing console output as it comes (Ctrl-C ends)',
      },
      json: false,
    }),
    sub(
      'console',
      "a VM's serial console, interactive (~. leaves, ~! takes the keyboard over)",
      'console NAME [--force]',
      consoleCommand,
      {
        flags: { force: { type: 'boolean' } },
        help: { force: 'take the keyboard even while another session has it (that one is told)' },
        json: false,
      },
    ),
    sub(
      'checkpoint',
      "take a checkpoint of a VM's disk, or --list them",
      'checkpoint NAME [--label TEXT | --list] [--json]',
      checkpoint,
      {
        flags: { label: { type: 'string' }, list: { type: 'boolean' } },
        help: { label: 'a label to remember it by', list: "list the VM's checkpoints instead" },
      },
    ),
    sub('net', "a VM's links: network, address, MAC, router, traffic", 'net NAME [--json]', vmNet),
    sub('rules', "a VM's firewall rules, or --set them from a file", 'rules NAME [--set FILE] [--json]', vmRules, {
      flags: { set: { type: 'string' } },
      help: {
        set: "a YAML or JSON list of rules as in the recipe; the VM's router loads them at once and keeps them",
      },
    }),
    sub('rollback', "roll a VM's disk back to a checkpoint", 'rollback NAME ID [--restart] [--json]', rollback, {
      flags: { restart: { type: 'boolean' } },
      help: { restart: 'stop a running VM, roll back, start it again (without it a running VM is refused)' },
    }),
  ],
};
