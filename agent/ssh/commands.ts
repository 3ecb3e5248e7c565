// The SSH command jail's grammar: the raw exec string split on spaces into a fixed set of commands, nothing else.
import { must } from '../../common/errors.ts';

// One command the jail runs; VM names are already matched against the host's VMs.
export type JailCommand =
  | { kind: 'help' }
  | { kind: 'status' }
  | { kind: 'vm-list' }
  | { kind: 'vm'; action: 'start' | 'stop' | 'status' | 'logs'; vm: string }
  | { kind: 'checkpoint-list'; vm: string }
  | { kind: 'checkpoint-create'; vm: string; label?: string }
  | { kind: 'checkpoint-rollback'; vm: string; id: string }
  | { kind: 'net-list' }
  | { kind: 'net-status' }
  | { kind: 'net-vm'; vm: string }
  | { kind: 'rescue' }
  | { kind: 'console'; vm: string }
  | { kind: 'update-status' }
  | { kind: 'update-apply'; reboot: boolean }
  | { kind: 'update-rollback'; reboot: boolean }
  | { kind: 'vault-status' }
  | { kind: 'vault-lock' }
  | { kind: 'vault-unlock' }
  | { kind: 'otp'; entry: string }
  | { kind: 'ssh-cert'; validitySeconds?: number; from?: string };

// A parsed command, or why the string was refused (shown to the client; nothing was run).
export type ParseResult = { ok: true; command: JailCommand } | { ok: false; message: string };

// The usage text `help` prints and every refusal points to.
export const JAIL_HELP = [
  'commands:',
  '  status                              the host and its VMs',
  '  vm list                             the VMs and their states',
  '  vm start|stop|status|logs VM        control one VM, or show its console log',
  '  checkpoint list VM                  the disk checkpoints of a VM',
  '  checkpoint create VM [LABEL]        take a checkpoint',
  '  checkpoint rollback VM ID           go back to a checkpoint',
  '  net list                            the networks, their routers and VMs',
  "  net status                          each VPN network's tunnel: state, endpoint, handshake, bytes, exit address",
  "  net VM                              a VM's links (address, MAC, traffic) and firewall rules",
  '  rescue                              switch to the rescue VM',
  "  update [status]                     the host's A/B slots, versions and verdicts",
  '  update apply [no-reboot]            apply the update bundle sent on stdin (ssh HOST update apply < B.mvu)',
  '  update rollback [no-reboot]         boot the other slot from now on',
  '  vault [status]                      the vault: locked or not, its entries (never a secret)',
  '  vault unlock                        unlock it with the passphrase sent on stdin',
  '  vault lock                          lock it (its key leaves memory)',
  '  otp NAME                            the current one-time code of a vault entry',
  '  ssh-cert [LIFETIME] [from=ADDR]     a certificate for the key you logged in with (10m, 2h; default 1h)',
  "  console VM                          a VM's serial console: read-only (Ctrl-C ends it), with ssh -t",
  '                                      interactive (~. leaves, ~! takes the keyboard over, ~? escapes)',
  '  help                                this text',
].join('\n');

// Longest exec string accepted.
export const MAX_COMMAND_CHARS = 256;
// Longest word accepted (names, ids, labels).
export const MAX_WORD_CHARS = 64;

// Characters a shell would treat specially; named in the refusal so the person sees what was wrong.
const SHELL_SYNTAX = /[;&|$`<>()\n\r'"\\*?[\]{}~!#\t]/;
// What a word may be made of: names, ids and labels only.
const WORD = /^[A-Za-z0-9._:@+=-]+$/;

// Verbs whose second word names the action.
const GROUPS = new Set(['vm', 'checkpoint', 'update', 'vault']);

// A certificate's lifetime as typed: seconds, or minutes and hours (90, 10m, 2h).
function lifetime(word: string): number | undefined {
  const match = /^([0-9]{1,5})([smh]?)$/.exec(word);
  if (!match) return undefined;
  return Number(match[1]) * { '': 1, s: 1, m: 60, h: 3600 }[match[2] as '' | 's' | 'm' | 'h'];
}

function sshCert(parts: string[]): ParseResult {
  const command: { kind: 'ssh-cert'; validitySeconds?: number; from?: string } = { kind: 'ssh-cert' };
  for (const word of parts.slice(1)) {
    if (word.startsWith('from=') && command.from === undefined) command.from = word.slice(5);
    else if (lifetime(word) !== undefined && command.validitySeconds === undefined)
      command.validitySeconds = lifetime(word);
    else return refuse(`\`ssh-cert\` takes a lifetime (90, 10m, 2h) and from=ADDRESS, not ${JSON.stringify(word)}`);
  }
  return { ok: true, command };
}

function refuse(message: string): ParseResult {
  return { ok: false, message: `refused: ${message}` };
}

function words(raw: string): string[] | ParseResult {
  if (raw.length > MAX_COMMAND_CHARS) return refuse(`the command is longer than ${MAX_COMMAND_CHARS} characters`);
  const special = SHELL_SYNTAX.exec(raw);
  if (special)
    return refuse(`${JSON.stringify(special[0])} is shell syntax; this is not a shell, commands take plain words`);
  const parts = raw.split(' ').filter((w) => w !== '');
  for (const word of parts) {
    if (word.length > MAX_WORD_CHARS) return refuse(`a word is longer than ${MAX_WORD_CHARS} characters`);
    if (word.includes('..') || word.includes('/'))
      return refuse(`paths are not accepted (${JSON.stringify(word.slice(0, 20))})`);
    if (!WORD.test(word))
      return refuse(`${JSON.stringify(word)} has characters other than letters, digits and . _ : @ + = -`);
  }
  if (parts.length === 0) return refuse('no command given; run `help`');
  return parts;
}

function vmName(name: string | undefined, vms: readonly string[]): string | ParseResult {
  if (name === undefined) return refuse('a VM name is missing');
  return vms.includes(name) ? name : refuse(`no VM named ${JSON.stringify(name)} (VMs: ${vms.join(', ') || 'none'})`);
}

function arity(parts: string[], min: number, max: number): ParseResult | undefined {
  if (parts.length < min) return refuse(`\`${parts.slice(0, 2).join(' ')}\` needs more arguments; run \`help\``);
  const most = max - 1 - (GROUPS.has(parts[0]!) ? 1 : 0);
  if (parts.length > max)
    return refuse(
      `\`${parts.slice(0, max - most).join(' ')}\` takes ${most === 0 ? 'no arguments' : `at most ${most} argument${most === 1 ? '' : 's'}`}`,
    );
  return undefined;
}

function withVm(parts: string[], vms: readonly string[], build: (vm: string) => JailCommand): ParseResult {
  const vm = vmName(parts[parts[0] === 'console' || parts[0] === 'net' ? 1 : 2], vms);
  return typeof vm === 'string' ? { ok: true, command: build(vm) } : vm;
}

// Parses the raw exec string strictly: no quoting, no expansion, known VM names only.
export function parseCommand(raw: string, vms: readonly string[]): ParseResult {
  const parts = words(raw);
  if (!Array.isArray(parts)) return parts;
  const [verb, sub] = parts;
  const key = GROUPS.has(verb!) ? `${verb} ${sub ?? ''}` : verb;
  switch (key) {
    case 'help':
    case 'status':
    case 'rescue':
      return arity(parts, 1, 1) ?? { ok: true, command: { kind: verb as 'help' | 'status' | 'rescue' } };
    case 'vm list':
      return arity(parts, 2, 2) ?? { ok: true, command: { kind: 'vm-list' } };
    case 'vm start':
    case 'vm stop':
    case 'vm status':
    case 'vm logs':
      return arity(parts, 3, 3) ?? withVm(parts, vms, (vm) => ({ kind: 'vm', action: sub as 'start', vm }));
    case 'checkpoint list':
      return arity(parts, 3, 3) ?? withVm(parts, vms, (vm) => ({ kind: 'checkpoint-list', vm }));
    case 'checkpoint create':
      return (
        arity(parts, 3, 4) ??
        withVm(parts, vms, (vm) => ({ kind: 'checkpoint-create', vm, ...(parts[3] ? { label: parts[3] } : {}) }))
      );
    case 'checkpoint rollback':
      return (
        arity(parts, 4, 4) ??
        withVm(parts, vms, (vm) => ({ kind: 'checkpoint-rollback', vm, id: must(parts[3], 'the checkpoint id') }))
      );
    case 'update ':
    case 'update status':
      return arity(parts, 1, 2) ?? { ok: true, command: { kind: 'update-status' } };
    case 'update apply':
    case 'update rollback': {
      const reboot = parts[2] === undefined || parts[2] === 'reboot';
      if (parts[2] !== undefined && parts[2] !== 'reboot' && parts[2] !== 'no-reboot')
        return refuse(`\`${parts.slice(0, 2).join(' ')}\` takes reboot or no-reboot`);
      const kind = sub === 'apply' ? 'update-apply' : 'update-rollback';
      return arity(parts, 2, 3) ?? { ok: true, command: { kind, reboot } };
    }
    case 'vault ':
    case 'vault status':
      return arity(parts, 1, 2) ?? { ok: true, command: { kind: 'vault-status' } };
    case 'vault lock':
    case 'vault unlock':
      return arity(parts, 2, 2) ?? { ok: true, command: { kind: sub === 'lock' ? 'vault-lock' : 'vault-unlock' } };
    case 'otp':
      return arity(parts, 2, 2) ?? { ok: true, command: { kind: 'otp', entry: must(parts[1], 'the entry') } };
    case 'ssh-cert':
      return arity(parts, 1, 3) ?? sshCert(parts);
    case 'console':
      return arity(parts, 2, 2) ?? withVm(parts, vms, (vm) => ({ kind: 'console', vm }));
    case 'net':
      if (sub === 'list') return arity(parts, 2, 2) ?? { ok: true, command: { kind: 'net-list' } };
      if (sub === 'status') return arity(parts, 2, 2) ?? { ok: true, command: { kind: 'net-status' } };
      return arity(parts, 2, 2) ?? withVm(parts, vms, (vm) => ({ kind: 'net-vm', vm }));
    default:
      return refuse(`unknown command \`${parts.slice(0, 2).join(' ')}\`; run \`help\``);
  }
}
