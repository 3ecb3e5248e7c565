// The host agent: reads the host config, picks the accelerator, publishes its status and API socket, says it is ready, and stays up.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chooseAccel } from '../builder/qemu/runner.ts';
import { formatProblem, MvosError, UserError } from '../builder/errors.ts';
import { listenApiSocket, type ApiSocket } from './api/socket.ts';
import { AGENT_USAGE, parseAgentArgs } from './args.ts';
import { readHostConfig } from './config.ts';
import { initialStatus, READY_MARKER, writeStatus, type AgentStatus } from './status.ts';

function log(line: string): void {
  process.stderr.write(`mvos-agent: ${line}\n`);
}

async function start(argv: string[]): Promise<void> {
  const args = parseAgentArgs(argv);
  if (args.help) {
    process.stdout.write(`${AGENT_USAGE}\n`);
    return;
  }
  let status: AgentStatus | undefined;
  let api: ApiSocket | undefined;
  let stopping = false;
  // Installed before anything else, so a SIGTERM that comes early (right after the ready line, or during the probe) is a clean stop too.
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    if (status) {
      status = { ...status, state: 'stopping' };
      await writeStatus(args.runDir, status).catch(() => undefined);
    }
    await api?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const config = await readHostConfig(args.config);
  const choice = await chooseAccel(args.accel, { timeoutMs: args.kvmTimeoutMs });
  if (choice.warning) log(`warning: ${choice.warning}`);
  await mkdir(args.stateDir, { recursive: true });
  await mkdir(args.runDir, { recursive: true, mode: 0o755 });
  status = initialStatus(config, { accel: choice.accel, accelReason: choice.reason, stateDir: args.stateDir, startedAt: new Date() });
  await writeStatus(args.runDir, status);
  api = await listenApiSocket(join(args.runDir, 'agent.sock'), () => status!);
  if (stopping) return api.close();
  process.stdout.write(`${READY_MARKER} ${config.name} ${config.version} accel=${choice.accel}\n`);
}

// Errors leave with the CLI's exit codes: 2 for wrong input (bad config, bad flag), 1 for failures.
function fail(error: unknown): never {
  if (error instanceof MvosError) {
    if (error instanceof UserError) for (const problem of error.problems) log(`  ${formatProblem(problem)}`);
    log(`error: ${error.message}`);
    if (error.hint) log(`hint: ${error.hint}`);
  } else {
    log(`internal error: ${(error as Error)?.stack ?? String(error)}`);
  }
  process.exit(error instanceof MvosError ? error.exitCode : 1);
}

await start(process.argv.slice(2)).catch(fail);
