// Runs one QEMU process: serial console captured to a log file and to memory, markers awaited, the process group
// stopped.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { FailureError, UserError } from '../errors.ts';
import { spawnTool } from '../exec.ts';
import { type KvmProbe, probeKvm } from './kvm.ts';

// What starting a run needs: QEMU's arguments and where the serial log goes.
export interface QemuRunOptions {
  argv: string[];
  log: string;
  qemu?: string;
  // Gets every chunk of console output as it arrives (e.g. process.stdout.write for a live console).
  echo?: (chunk: Buffer) => void;
  // QEMU reads the terminal itself (its stdin is ours) and stays in our process group, so the terminal may control it.
  interactive?: boolean;
  // Keep QEMU's stdin (the serial console's input) as a pipe that send() writes to; ignored when interactive.
  input?: boolean;
}

// How the QEMU process ended.
export interface QemuExit {
  code: number | null;
  signal: string | null;
}

// The accelerator chosen for a run, why, and what to tell the user when it is not the one they hoped for.
export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  reason: string;
  warning?: string;
}

// Lines of console output kept in memory for markers and error reports; the log file keeps everything.
const KEPT_LINES = 5000;
const TAIL_LINES = 40;
const STOP_GRACE_MS = 3000;

interface Waiter {
  matches: (line: string) => boolean;
  resolve: (ms: number) => void;
}

interface Line {
  text: string;
  ms: number;
}

// Detached QEMUs do not get the terminal's signals and execa does not clean them up: the last exit of this process ends
// them.
const live = new Set<() => void>();
process.once('exit', () => {
  for (const kill of live) kill();
});

// One running QEMU; `exited` settles when the process is gone and the log is flushed.
export class QemuRun {
  readonly log: string;
  readonly exited: Promise<QemuExit>;
  private readonly started = performance.now();
  private readonly lines: Line[] = [];
  private partial = '';
  private stderrText = '';
  private readonly waiters = new Set<Waiter>();
  private exit: QemuExit | undefined;
  private readonly pid: number | undefined;
  private readonly group: boolean;
  private readonly stdin: NodeJS.WritableStream | undefined;

  // Types text on the serial console (needs the `input` option), e.g. a boot menu hotkey.
  send(text: string): void {
    if (!this.stdin) throw new Error('QemuRun.send: started without the input option');
    this.stdin.write(text);
  }

  private constructor(options: QemuRunOptions, sink: WriteStream) {
    this.log = options.log;
    this.group = !options.interactive;
    const child = spawnTool(options.qemu ?? 'qemu-system-x86_64', options.argv, {
      stdin: options.interactive ? 'inherit' : options.input ? 'pipe' : 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      // Its own process group, so stop() also ends anything QEMU started (helpers, a swtpm later).
      detached: !options.interactive,
      reject: false,
    });
    this.pid = child.pid;
    this.stdin = child.stdin ?? undefined;
    const kill = (): void => this.signal('SIGKILL');
    live.add(kill);
    // A UTF-8 character split across two reads is decoded whole.
    const decoder = new StringDecoder('utf8');
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!sink.writableEnded) sink.write(chunk);
      options.echo?.(chunk);
      this.take(decoder.write(chunk));
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrText = (this.stderrText + chunk.toString('utf8')).slice(-8192);
    });
    this.exited = (async () => {
      const result = await child;
      live.delete(kill);
      if (this.partial) {
        this.keep(this.partial);
        this.partial = '';
      }
      await new Promise<void>((resolve) => sink.end(resolve));
      const code = typeof result.exitCode === 'number' ? result.exitCode : null;
      this.exit = { code, signal: result.signal ?? null };
      if (result.failed && code === null && !result.signal)
        this.stderrText ||= result.originalMessage ?? result.shortMessage ?? 'could not start';
      return this.exit;
    })();
  }

  // Starts QEMU; the log file's folder is created when missing.
  static async start(options: QemuRunOptions): Promise<QemuRun> {
    await mkdir(dirname(options.log), { recursive: true });
    const sink = createWriteStream(options.log);
    await new Promise<void>((resolve, reject) => sink.once('open', () => resolve()).once('error', reject));
    return new QemuRun(options, sink);
  }

  private take(text: string): void {
    const parts = (this.partial + text.replaceAll('\r', '')).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.keep(line);
    // A prompt or a marker without a newline still counts; it is checked again once its line is complete.
    if (this.partial) this.notify(this.partial);
  }

  private keep(text: string): void {
    this.lines.push({ text, ms: this.elapsedMs });
    if (this.lines.length > KEPT_LINES) this.lines.splice(0, this.lines.length - KEPT_LINES);
    this.notify(text);
  }

  private notify(line: string): void {
    for (const waiter of this.waiters) if (waiter.matches(line)) waiter.resolve(this.elapsedMs);
  }

  // The console output kept in memory (the last lines; the log file has all of it).
  get output(): string {
    return [...this.lines.map((l) => l.text), this.partial].join('\n');
  }

  // The console lines printed since `ms` (from the lines kept in memory).
  outputSince(ms: number): string {
    return [...this.lines.filter((l) => l.ms >= ms).map((l) => l.text), this.partial].join('\n');
  }

  // The last n lines of console output.
  tail(n = TAIL_LINES): string[] {
    return [...this.lines.map((l) => l.text), ...(this.partial ? [this.partial] : [])].slice(-n);
  }

  // Milliseconds since QEMU was started.
  get elapsedMs(): number {
    return Math.round(performance.now() - this.started);
  }

  // Resolves with the ms from start to the first console line that holds the marker (a RegExp is tested line by line);
  // with `sinceMs`, only lines from that time on count (a marker every boot prints, after a reboot).
  waitFor(marker: string | RegExp, timeoutMs: number, sinceMs = 0): Promise<number> {
    const pattern =
      typeof marker === 'string' ? undefined : new RegExp(marker.source, marker.flags.replace(/[gy]/g, ''));
    const matches = (line: string): boolean => (pattern ? pattern.test(line) : line.includes(marker as string));
    const seen = this.lines.find((line) => line.ms >= sinceMs && matches(line.text));
    if (seen) return Promise.resolve(seen.ms);
    if (this.partial && matches(this.partial)) return Promise.resolve(this.elapsedMs);
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { matches, resolve: (ms) => finish(() => resolve(ms)) };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(this.failure(`did not see ${describe(marker)} on the console within ${timeoutMs / 1000} s`)),
          ),
        timeoutMs,
      );
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        settle();
      };
      this.waiters.add(waiter);
      void this.exited.then((exit) => {
        if (this.waiters.has(waiter))
          finish(() =>
            reject(this.failure(`QEMU ${exitText(exit)} before ${describe(marker)} appeared on the console`)),
          );
      });
    });
  }

  // A FailureError with the last console lines, QEMU's own complaints and where the full log is.
  failure(message: string): FailureError {
    const stderr = this.stderrText.trim();
    const lines = [
      `${message} (after ${(this.elapsedMs / 1000).toFixed(1)} s)`,
      `last ${TAIL_LINES} lines of the serial console:`,
      ...this.tail().map((l) => `  | ${l}`),
      ...(stderr ? ['QEMU said:', ...stderr.split('\n').map((l) => `  | ${l}`)] : []),
      `full serial log: ${this.log}`,
    ];
    return new FailureError(lines.join('\n'), {
      hint: `read ${this.log}; rerun with --debug for the QEMU command line`,
    });
  }

  // The exit once QEMU is gone, undefined while it runs.
  get exitStatus(): QemuExit | undefined {
    return this.exit;
  }

  // Ends QEMU (and its process group): SIGTERM, then SIGKILL after a grace period; resolves when it is gone.
  async stop(): Promise<QemuExit> {
    if (this.exit || this.pid === undefined) return this.exited;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), STOP_GRACE_MS);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  // Ends QEMU at once (SIGKILL): a power cut, as the guest sees it.
  async kill(): Promise<QemuExit> {
    if (this.exit || this.pid === undefined) return this.exited;
    this.signal('SIGKILL');
    return this.exited;
  }

  private signal(name: NodeJS.Signals): void {
    try {
      process.kill(this.group ? -this.pid! : this.pid!, name);
    } catch {
      // Already gone.
    }
  }
}

function describe(marker: string | RegExp): string {
  return typeof marker === 'string' ? JSON.stringify(marker) : String(marker);
}

function exitText(exit: QemuExit): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

// Picks KVM or TCG: `auto` probes KVM (with a timeout) and falls back to TCG with a warning; `kvm` insists and fails
// when it is not usable.
export async function chooseAccel(
  preferred: 'auto' | 'kvm' | 'tcg',
  options: { timeoutMs?: number; probe?: (options: { timeoutMs?: number }) => Promise<KvmProbe> } = {},
): Promise<AccelChoice> {
  if (preferred === 'tcg') return { accel: 'tcg', reason: 'TCG was asked for' };
  const probe = await (options.probe ?? probeKvm)({ timeoutMs: options.timeoutMs });
  if (probe.usable) return { accel: 'kvm', reason: probe.reason };
  if (preferred === 'kvm') {
    throw new UserError(`KVM was asked for but is not usable: ${probe.reason}`, {
      hint: 'use --accel auto (falls back to TCG) or --accel tcg; `mvos doctor` checks KVM',
    });
  }
  return {
    accel: 'tcg',
    reason: probe.reason,
    warning: `KVM is not usable (${probe.reason}); using TCG, which is much slower`,
  };
}
