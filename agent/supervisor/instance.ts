// One running QEMU the agent watches: its QMP session, health watch and process; reports ready, failure or exit once
// each.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConsoleFeed, consoleFiles, openConsole } from '../console/reader.ts';
import { type LivenessWatch, watchQmpLiveness } from '../health/qmp-liveness.ts';
import { type HealthWatch, watchHealth } from '../health/watch.ts';
import type { VmPaths } from '../launch/vm.ts';
import { QmpClient, type QmpEvent } from '../qmp/client.ts';
import { type ChannelHandler, serveSecrets } from '../vault/channel.ts';

// What the instance tells its supervisor.
export interface InstanceEvents {
  onReady(source: string): void;
  // The VM failed while it should run (crash, panic, reset, guest-reported failure); QEMU may still be up.
  onFailed(reason: string): void;
  // The guest powered itself off cleanly.
  onPoweredOff(): void;
  // A container workload's command ended with this code (its VM powers off next).
  onExited(code: number): void;
  onSerialOffset(offset: number): void;
}

// Whether pid is alive and is the QEMU that owns this VM's QMP socket (pids get reused).
export async function isOurQemu(pid: number, paths: VmPaths): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(paths.qmp);
}

// Reads the pid QEMU wrote, if the file is there.
export async function readPidfile(paths: VmPaths): Promise<number | undefined> {
  const text = await readFile(paths.pidfile, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function shutdownMeaning(data: Record<string, unknown> | undefined): 'poweroff' | string {
  const reason = String(data?.reason ?? 'unknown');
  if (reason === 'guest-shutdown') return 'poweroff';
  if (reason === 'guest-panic') return 'guest kernel panic (pvpanic)';
  if (reason === 'guest-reset') return 'the guest reset itself (reboot, triple fault or panic without pvpanic)';
  return `QEMU shut down (${reason})`;
}

// A VM's live QEMU; `stopping` turns its exit from a failure into the expected end.
export class VmInstance {
  private qmpClient: QmpClient | undefined;
  private watch: HealthWatch | undefined;
  private secrets: { stop(): void } | undefined;
  private console: ConsoleFeed | undefined;
  private poll: NodeJS.Timeout | undefined;
  private liveness: LivenessWatch | undefined;
  private ended = false;
  // The guest asked to power off: QEMU's exit that follows is the expected end, not a crash.
  private poweringOff = false;
  // When the guest last sent its heartbeat (undefined: it never has, so silence means nothing).
  private lastHeartbeat: number | undefined;
  // Who waits for the guest's next line on the health channel that a pattern matches (one request at a time).
  private waiting: { pattern: RegExp; resolve: (line: string) => void } | undefined;
  private channelQueue: Promise<unknown> = Promise.resolve();
  // The last line of each kind the guest reported on its channel (a router's link counters), by its first word (a
  // tunnel's state by its first two).
  readonly reports = new Map<string, string>();
  stopping = false;

  constructor(
    readonly pid: number,
    private readonly paths: VmPaths,
    private readonly events: InstanceEvents,
  ) {}

  get qmp(): QmpClient {
    if (!this.qmpClient) throw new Error('VmInstance: QMP is not connected');
    return this.qmpClient;
  }

  // Connects QMP, starts the health watch (from the console offset already read) and the process check.
  async attach(options: {
    marker: string;
    serialOffset: number;
    timeoutMs?: number;
    heartbeatTimeoutMs?: number;
    hangTimeoutMs?: number;
    // Answers the VM's requests on its secrets channel (absent: the agent keeps no vault).
    secrets?: ChannelHandler;
  }): Promise<void> {
    this.qmpClient = await QmpClient.connect(this.paths.qmp, { timeoutMs: options.timeoutMs ?? 15_000 });
    this.qmpClient.on('event', (event: QmpEvent) => this.onEvent(event));
    this.qmpClient.on('close', () => void this.onGone());
    // The VM's one console reader: it keeps the capped log, and viewers share it with this watch.
    this.console = openConsole(consoleFiles(this.paths));
    this.watch = watchHealth({
      console: this.console,
      healthSocket: this.paths.health,
      marker: options.marker,
      offset: options.serialOffset,
      onSignal: (signal) => {
        if (this.ended) return;
        if (signal.kind === 'alive') this.lastHeartbeat = Date.now();
        else if (signal.kind === 'exited') this.events.onExited(signal.code);
        else if (signal.kind === 'ready') this.events.onReady(signal.source);
        else this.fail(signal.reason);
      },
      onOffset: (offset) => this.events.onSerialOffset(offset),
      onChannelLine: (line) => this.onChannelLine(line),
    });
    if (options.secrets) this.secrets = serveSecrets(this.paths.secrets, options.secrets);
    // QMP closing is the fast signal; this catches a QEMU that is gone while its socket lingers.
    // A guest that sent heartbeats and then stops sending them has hung (the kernel or its init).
    const silence = options.heartbeatTimeoutMs ?? 30_000;
    // A stopped or wedged QEMU answers nothing on QMP while its socket stays open: caught here, not by the guest.
    this.liveness = watchQmpLiveness(this.qmpClient, {
      timeoutMs: options.hangTimeoutMs ?? 15_000,
      onHung: (reason) => this.fail(reason),
    });
    this.poll = setInterval(() => {
      if (!alive(this.pid)) void this.onGone();
      else if (this.lastHeartbeat !== undefined && Date.now() - this.lastHeartbeat > silence)
        this.fail(
          `the guest stopped answering: no heartbeat on its health channel for ${Math.round(silence / 1000)} s`,
        );
    }, 1000);
  }

  private onChannelLine(line: string): void {
    const word = /^MVOS-[A-Z-]+/.exec(line)?.[0];
    if (word === 'MVOS-NET-COUNTERS' || word === 'MVOS-TOR' || word === 'MVOS-ONION') this.reports.set(word, line);
    // One line each tunnel, kept by the tunnel's name (one of the four a router may have: a guest cannot grow the map).
    const tunnel = /^MVOS-VPN (vpn[0-3]) /.exec(line);
    if (tunnel) this.reports.set(`MVOS-VPN ${tunnel[1]}`, line);
    if (this.waiting?.pattern.test(line)) {
      this.waiting.resolve(line);
      this.waiting = undefined;
    }
  }

  // Sends the guest one line over its health channel and resolves with its reply (the next line `reply` matches); one
  // request at a time, each bounded by `timeoutMs`.
  request(line: string, reply: RegExp, timeoutMs: number): Promise<string> {
    const ask = async (): Promise<string> => {
      if (this.ended) throw new Error('the VM is not running');
      const answer = new Promise<string>((resolve) => {
        this.waiting = { pattern: reply, resolve };
      });
      if (!this.watch?.send(line)) {
        this.waiting = undefined;
        throw new Error('its health channel is not connected');
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      });
      try {
        return await Promise.race([answer, timeout]);
      } finally {
        clearTimeout(timer);
        this.waiting = undefined;
      }
    };
    const result = this.channelQueue.then(ask, ask);
    this.channelQueue = result.catch(() => undefined);
    return result;
  }

  private onEvent(event: QmpEvent): void {
    if (this.ended || this.stopping) return;
    if (event.event === 'GUEST_PANICKED') {
      this.fail('guest kernel panic (pvpanic)');
      return;
    }
    if (event.event === 'SHUTDOWN') {
      const meaning = shutdownMeaning(event.data);
      if (meaning === 'poweroff') {
        this.poweringOff = true;
        // The guest's last lines (a container's exit code) may still be on their way through the console reader's poll.
        setTimeout(() => {
          if (this.ended) return;
          this.end();
          this.events.onPoweredOff();
        }, 500);
      } else this.fail(meaning);
    }
  }

  private async onGone(): Promise<void> {
    if (this.ended || this.poweringOff) return;
    if (this.stopping) return this.end();
    // QMP may close a moment before the process is reaped; a panic or shutdown event may be on its way.
    await sleep(300);
    if (this.ended) return;
    this.fail(`QEMU (pid ${this.pid}) exited unexpectedly: killed or crashed`);
  }

  private fail(reason: string): void {
    if (this.ended) return;
    this.end();
    this.events.onFailed(reason);
  }

  private end(): void {
    this.ended = true;
    this.watch?.stop();
    this.secrets?.stop();
    void this.console?.release();
    this.console = undefined;
    if (this.poll) clearInterval(this.poll);
    this.liveness?.stop();
  }

  // Lets go of QEMU without stopping it (the agent is exiting; a restarted agent re-attaches).
  detach(): void {
    this.end();
    this.qmpClient?.removeAllListeners('close');
    this.qmpClient?.close();
  }

  // Stops QEMU: ACPI power button, `quit` after the grace period, SIGKILL as the last resort; resolves when the process
  // is gone.
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const gone = async (ms: number): Promise<boolean> => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        if (!alive(this.pid)) return true;
        await sleep(100);
      }
      return !alive(this.pid);
    };
    if (graceMs > 0) {
      await this.qmpClient?.execute('system_powerdown').catch(() => undefined);
      if (await gone(graceMs)) return this.end();
    }
    await this.qmpClient?.execute('quit', undefined, { timeoutMs: 2000 }).catch(() => undefined);
    if (!(await gone(3000))) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      await gone(3000);
    }
    this.end();
  }
}
