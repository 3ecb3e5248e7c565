// Runs the real agent on this build machine against an unpacked host image, the way `mvos agent` does, and watches its
// status.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { VmView } from '../../agent/controls.ts';
import type { AgentStatus } from '../../agent/status.ts';
import { unpackInitramfs } from '../../builder/archive/unpack.ts';
import type { VmHealth } from '../../common/host-config.ts';
import { ARTIFACTS } from './boot.ts';
import { buildHostImage, repoRoot } from './host-image.ts';

// One VM of host.json as scenarios read and edit it: the fields they use by name, the rest passed to the agent as it
// was.
export interface ScenarioVm {
  name: string;
  role: string;
  cpus: number;
  memoryMiB: number;
  kernel: string;
  initrd: string;
  disk?: string;
  cmdline: string;
  firmware: { type: string; code?: string; vars?: string };
  health: VmHealth;
  [field: string]: unknown;
}

// host.json as scenarios read and edit it; the agent checks what they hand it.
export interface ScenarioConfig {
  vms: ScenarioVm[];
  containers?: { kernel: string; initrd: string } | null;
  [field: string]: unknown;
}

// The default host image unpacked once per content, and its host config.
export async function hostRoot(): Promise<{ root: string; config: ScenarioConfig }> {
  const image = buildHostImage();
  const root = await unpackInitramfs(image.initrd, join(ARTIFACTS, 'host-roots'));
  const config = JSON.parse(await readFile(join(root, 'etc/mvos/host.json'), 'utf8')) as ScenarioConfig;
  return { root, config };
}

// A running agent with its own state and run folders.
export class AgentRun {
  private output = '';
  readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get log(): string {
    return this.output;
  }

  get stateDir(): string {
    return join(this.dir, 'state');
  }

  // Starts the agent on `config` (written to dir/host.json) and waits for its ready line.
  static async start(options: {
    root: string;
    config: ScenarioConfig;
    dir: string;
    extra?: string[];
    // The network namespace the agent (and the VMs it starts) run in: the host's own, when a test gives it one.
    netns?: string;
  }): Promise<AgentRun> {
    await mkdir(options.dir, { recursive: true });
    const configFile = join(options.dir, 'host.json');
    await writeFile(configFile, JSON.stringify(options.config, null, 2));
    const args = [
      '--import',
      'tsx',
      join(repoRoot, 'agent/main.ts'),
      '--root',
      options.root,
      '--config',
      configFile,
      '--state-dir',
      join(options.dir, 'state'),
      '--run-dir',
      join(options.dir, 'run'),
      '--accel',
      'tcg',
      '--stop-grace',
      '1',
      ...(options.extra ?? []),
    ];
    const [command, argv] = options.netns
      ? ['ip', ['netns', 'exec', options.netns, process.execPath, ...args]]
      : [process.execPath, args];
    const child = spawn(command, argv, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const run = new AgentRun(child, options.dir);
    await run.waitForLog(/MVOS-AGENT-READY/, 60_000);
    return run;
  }

  async waitForLog(pattern: RegExp, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (this.child.exitCode !== null)
        throw new Error(`agent exited (${this.child.exitCode}) before ${pattern}:\n${this.output}`);
      if (Date.now() > until) throw new Error(`no ${pattern} from the agent within ${timeoutMs} ms:\n${this.output}`);
      await sleep(100);
    }
  }

  async status(): Promise<AgentStatus> {
    return JSON.parse(await readFile(join(this.dir, 'run', 'status.json'), 'utf8')) as AgentStatus;
  }

  async vm(name: string): Promise<VmView> {
    const vm = (await this.status()).vms.find((v) => v.name === name);
    if (!vm) throw new Error(`status has no VM ${name}`);
    return vm;
  }

  // Polls the status until `check` holds for VM `name`; the error shows the VM's history.
  // Waits until each of `names` is ready; one that failed ends the wait with its reason.
  async waitForReady(names: readonly string[], timeoutMs: number): Promise<void> {
    for (const name of names) {
      const vm = await this.waitForVm(name, (v) => v.state === 'ready' || v.state === 'failed', timeoutMs, 'came up');
      if (vm.state === 'failed')
        throw new Error(`${name} failed: ${vm.failure?.reason}; see ${join(this.stateDir, 'vms', name)}`);
    }
  }

  async waitForVm(name: string, check: (vm: VmView) => boolean, timeoutMs: number, what: string): Promise<VmView> {
    const until = Date.now() + timeoutMs;
    let last: VmView | undefined;
    for (;;) {
      last = await this.vm(name).catch(() => last);
      if (last && check(last)) return last;
      if (Date.now() > until)
        throw new Error(
          `${name} never ${what} within ${timeoutMs / 1000} s; last: ${JSON.stringify(last, null, 1)}\nagent log:\n${this.output}`,
        );
      await sleep(250);
    }
  }

  // Ends the agent with a signal (the VMs stay up unless --stop-vms-on-exit).
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.child.kill(signal);
    await this.exited;
  }
}

// A scenario's agents on the image's own controller and rescue: each on a copy of the image's config with the
// controller changed, each in its own folder under the case's artifacts, all killed with their VMs at the end.
export class ControllerScenario {
  private readonly runs: AgentRun[] = [];

  constructor(
    private readonly host: { root: string; config: ScenarioConfig },
    private readonly artifacts: string,
  ) {}

  // The image's host config with the controller changed.
  configWith(change: (controller: ScenarioVm) => void): ScenarioConfig {
    const config = structuredClone(this.host.config);
    change(config.vms.find((vm) => vm.role === 'controller')!);
    return config;
  }

  // Starts an agent in a fresh folder named `name`.
  async start(name: string, config: ScenarioConfig): Promise<AgentRun> {
    const dir = join(this.artifacts, name);
    await rm(dir, { recursive: true, force: true });
    return this.adopt(await AgentRun.start({ root: this.host.root, config, dir }));
  }

  // Takes an agent started otherwise (a restart in the same folder) into the clean-up.
  adopt(run: AgentRun): AgentRun {
    this.runs.push(run);
    return run;
  }

  // Kills the agent and its controller and rescue.
  async finish(run: AgentRun): Promise<void> {
    await run.kill('SIGKILL');
    await killVms(run.stateDir, ['controller', 'rescue']);
  }

  async finishAll(): Promise<void> {
    for (const run of this.runs) await this.finish(run).catch(() => undefined);
  }
}

// Kills whatever QEMU a test's VMs left behind (by their pid files).
export async function killVms(stateDir: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const pid = Number.parseInt(await readFile(join(stateDir, 'vms', name, 'qemu.pid'), 'utf8').catch(() => ''), 10);
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
}

// Types a command on a VM's serial console (its console socket) and returns what came back once `expect` matched.
export function consoleCommand(
  stateDir: string,
  vm: string,
  command: string,
  expect: RegExp,
  timeoutMs = 60_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(join(stateDir, 'vms', vm, 'console.sock'));
    let output = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no ${expect} on ${vm}'s console within ${timeoutMs} ms after \`${command}\`; got:\n${output}`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk) => {
      output += chunk.toString('utf8');
      if (expect.test(output)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(output);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

// Runs a shell command on a VM's console and returns its output and exit code (the end marker is made by the guest's
// shell, so the echoed command line never matches it).
export async function consoleShell(
  stateDir: string,
  vm: string,
  command: string,
  timeoutMs = 60_000,
): Promise<{ out: string; rc: number }> {
  const end = /MVOS42END rc=(\d+)/;
  const text = await consoleCommand(stateDir, vm, `${command}; echo "MVOS$((6*7))END rc=$?"`, end, timeoutMs);
  return { out: text, rc: Number(end.exec(text)![1]) };
}

// A scenario's before hook: uvu does not print a hook's error, so the runner's log would not say why no test ran.
export function reportingSetUp(setUp: () => Promise<void>): () => Promise<void> {
  return () =>
    setUp().catch((error: Error) => {
      console.error(`setup failed: ${error.stack}`);
      throw error;
    });
}

// Runs `mvos vm …` against an agent's socket; --json output parsed.
export function mvosVm(run: AgentRun, args: string[]): { status: number; json: unknown; stderr: string } {
  const result = spawnSync(
    join(repoRoot, 'mvos'),
    ['vm', ...args, '--socket', join(run.dir, 'run', 'agent.sock'), '--json'],
    { encoding: 'utf8', timeout: 600_000 },
  );
  let json: unknown;
  try {
    json = JSON.parse(result.stdout);
  } catch {
    json = undefined;
  }
  return { status: result.status ?? -1, json, stderr: result.stderr };
}

// One JSON request to an agent's API on its unix socket (root, no login).
export function apiCall(
  run: AgentRun,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: join(run.dir, 'run', 'agent.sock'),
        path,
        method,
        headers: text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {},
      },
      (res) => {
        let data = '';
        res.on('data', (chunk) => (data += chunk));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(data);
          } catch {
            json = data;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}
