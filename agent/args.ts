// The agent's command line: where its config, state and runtime files are, and how it picks the accelerator.
import { parseArgs } from 'node:util';
import { UserError } from '../builder/errors.ts';

// What the agent was told on its command line, with the defaults of a booted host filled in.
export interface AgentArgs {
  config: string;
  stateDir: string;
  runDir: string;
  accel: 'auto' | 'kvm' | 'tcg';
  kvmTimeoutMs: number;
  help: boolean;
}

// Usage text for --help and for wrong arguments.
export const AGENT_USAGE = [
  'usage: agent [--config FILE] [--state-dir DIR] [--run-dir DIR] [--accel auto|kvm|tcg] [--kvm-timeout SECONDS]',
  '',
  '  --config FILE          host config written by the image build (default /etc/mvos/host.json)',
  '  --state-dir DIR        persistent state: VM disks, checkpoints, keys (default /var/lib/mvos)',
  '  --run-dir DIR          runtime files: status.json, agent.sock (default /run/mvos)',
  '  --accel MODE           auto probes KVM and falls back to TCG (default auto)',
  '  --kvm-timeout SECONDS  how long the KVM probe may take (default 5)',
].join('\n');

// Parses the agent's arguments; anything unknown or malformed is a UserError (exit 2).
export function parseAgentArgs(argv: string[]): AgentArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        'state-dir': { type: 'string' },
        'run-dir': { type: 'string' },
        accel: { type: 'string' },
        'kvm-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UserError((error as Error).message.replace(/\. To specify.*$/s, ''), { hint: AGENT_USAGE.split('\n')[0] });
  }
  const accel = values.accel ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') throw new UserError(`--accel must be auto, kvm or tcg (got "${accel}")`);
  const timeout = Number(values['kvm-timeout'] ?? '5');
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UserError(`--kvm-timeout must be a number of seconds > 0 (got "${values['kvm-timeout']}")`);
  return {
    config: values.config ?? '/etc/mvos/host.json',
    stateDir: values['state-dir'] ?? '/var/lib/mvos',
    runDir: values['run-dir'] ?? '/run/mvos',
    accel,
    kvmTimeoutMs: Math.round(timeout * 1000),
    help: values.help ?? false,
  };
}
