// The agent's command line: where its config, state and runtime files are, and how it picks the accelerator.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { UserError } from '../common/errors.ts';

// What the agent was told on its command line, with the defaults of a booted host filled in.
export interface AgentArgs {
  config: string;
  stateDir: string;
  runDir: string;
  accel: 'auto' | 'kvm' | 'tcg';
  kvmTimeoutMs: number;
  // Image paths of the host config are looked up under this folder first (a host image unpacked on a build machine).
  root: string;
  // Seconds a VM gets to power off on the ACPI button before it is quit.
  stopGraceMs: number;
  // Whether SIGTERM also stops the VMs (host shutdown) instead of leaving them for the next agent.
  stopVmsOnExit: boolean;
  // A TCP listener that cannot bind: end the agent with the reason (exit), or keep running and keep trying (retry, the
  // host).
  onListenFailure: 'exit' | 'retry';
  // Updates: a folder standing in for the ESP (else the partition labelled MVOS-ESP) and the slot this boot came from
  // (else mvos.slot= on the kernel command line).
  espDir?: string;
  bootSlot?: 'a' | 'b' | 'efi';
  // The host's init started this agent: a reboot is asked of it (SIGTERM to PID 1), and it resets the boot counter.
  underInit: boolean;
  help: boolean;
}

// Usage text for --help and for wrong arguments.
export const AGENT_USAGE = [
  'usage: agent [--config FILE] [--state-dir DIR] [--run-dir DIR] [--accel auto|kvm|tcg] [--kvm-timeout SECONDS] ' +
    '[--root DIR] [--stop-grace SECONDS] [--stop-vms-on-exit] [--on-listen-failure exit|retry] [--esp-dir DIR] ' +
    '[--boot-slot a|b|efi] [--under-init]',
  '',
  '  --config FILE          host config written by the image build (default ROOT/etc/mvos/host.json)',
  '  --state-dir DIR        persistent state: VM disks, checkpoints, keys (default /var/lib/mvos)',
  '  --run-dir DIR          runtime files: status.json, agent.sock (default /run/mvos)',
  '  --accel MODE           auto probes KVM and falls back to TCG (default auto)',
  '  --kvm-timeout SECONDS  how long the KVM probe may take (default 5)',
  '  --root DIR             look up image paths of the host config under DIR first (build machines; default /)',
  '  --stop-grace SECONDS   how long a VM may take to power off before it is quit (default 10)',
  '  --stop-vms-on-exit     SIGTERM stops the VMs too (default: they keep running and the next agent re-attaches)',
  '  --on-listen-failure exit|retry  a TCP address that cannot be bound ends the agent (default), or is retried ' +
    'while the rest runs (the host)',
  '  --esp-dir DIR          updates: this folder holds the A/B slots (default: the partition labelled MVOS-ESP)',
  '  --boot-slot a|b|efi    updates: the slot this boot came from, efi: the firmware chose (Secure Boot UKIs)',
  '                         (default: mvos.slot= on the kernel command line)',
  "  --under-init           the host's init runs this agent: reboots go through it",
].join('\n');

// The flags as parseArgs reads them; its refusals become UserErrors.
function agentFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        'state-dir': { type: 'string' },
        'run-dir': { type: 'string' },
        accel: { type: 'string' },
        'kvm-timeout': { type: 'string' },
        root: { type: 'string' },
        'stop-grace': { type: 'string' },
        'stop-vms-on-exit': { type: 'boolean' },
        'on-listen-failure': { type: 'string' },
        'esp-dir': { type: 'string' },
        'boot-slot': { type: 'string' },
        'under-init': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    throw new UserError((error as Error).message.replace(/\. To specify.*$/s, ''), {
      hint: AGENT_USAGE.split('\n')[0],
    });
  }
}

// Parses the agent's arguments; anything unknown or malformed is a UserError (exit 2).
export function parseAgentArgs(argv: string[]): AgentArgs {
  const values = agentFlags(argv);
  const accel = values.accel ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg')
    throw new UserError(`--accel must be auto, kvm or tcg (got "${accel}")`);
  const timeout = Number(values['kvm-timeout'] ?? '5');
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw new UserError(`--kvm-timeout must be a number of seconds > 0 (got "${values['kvm-timeout']}")`);
  const onListenFailure = values['on-listen-failure'] ?? 'exit';
  if (onListenFailure !== 'exit' && onListenFailure !== 'retry')
    throw new UserError(`--on-listen-failure must be exit or retry (got "${onListenFailure}")`);
  const grace = Number(values['stop-grace'] ?? '10');
  if (!Number.isFinite(grace) || grace < 0)
    throw new UserError(`--stop-grace must be a number of seconds ≥ 0 (got "${values['stop-grace']}")`);
  const bootSlot = values['boot-slot'];
  if (bootSlot !== undefined && bootSlot !== 'a' && bootSlot !== 'b' && bootSlot !== 'efi')
    throw new UserError(`--boot-slot must be a, b or efi (got "${bootSlot}")`);
  return {
    ...(values['esp-dir'] ? { espDir: values['esp-dir'] } : {}),
    ...(bootSlot ? { bootSlot } : {}),
    underInit: values['under-init'] ?? false,
    config: values.config ?? join(values.root ?? '/', 'etc/mvos/host.json'),
    root: values.root ?? '/',
    stopGraceMs: Math.round(grace * 1000),
    stopVmsOnExit: values['stop-vms-on-exit'] ?? false,
    onListenFailure,
    stateDir: values['state-dir'] ?? '/var/lib/mvos',
    runDir: values['run-dir'] ?? '/run/mvos',
    accel,
    kvmTimeoutMs: Math.round(timeout * 1000),
    help: values.help ?? false,
  };
}
