// Progress for long steps: a redrawn bar on a terminal, plain throttled lines otherwise (CI logs, pipes), nothing when
// quiet (--json). Only the innermost running task draws, so a step inside a stage shows its own bar.

// What a task counts: bytes (shown in KiB/MiB) or items (shown as numbers, with an optional noun).
export type ProgressUnit = 'bytes' | 'items';

// How a task is shown beyond its label and total.
export interface TaskOptions {
  unit?: ProgressUnit;
  // The word after item counts, e.g. 'objects'.
  noun?: string;
  // How long the same step took last time: the estimate of what is left leans on it until the count takes over.
  expectedSeconds?: number;
  // Announced elsewhere (a stage's own log lines): no start or done line, and its bar is erased when it ends.
  transient?: boolean;
}

// One running task's progress.
export interface ProgressTask {
  // Counts `amount` more done; `note` (the tool's last line) is shown dimmed after the bar on a terminal.
  advance(amount: number, note?: string): void;
  // Ends the task: the bar stays, full, on a terminal; a done line with the time taken otherwise, or `summary`.
  done(summary?: string): void;
  // Ends the task with no done line (it failed, or what it did is told elsewhere); its bar is erased.
  abort(): void;
}

// Makes progress tasks for one output stream.
export interface Progress {
  // Starts a task; with no total it shows its count and elapsed time without a percentage.
  start(label: string, total?: number, options?: ProgressUnit | TaskOptions): ProgressTask;
  // Prints a line above the running bar (through write when given, else to the stream) and redraws the bar under it.
  line(text: string, write?: (text: string) => void): void;
}

// How createProgress draws; the clock and the intervals are there for tests.
export interface ProgressOptions {
  // Dims the tool's last line after the bar (default: unless NO_COLOR is set).
  color?: boolean;
  now?: () => number;
  // The least time between two plain lines of one running task.
  plainIntervalMs?: number;
  // How often a terminal bar is redrawn with no news, so its clock keeps moving (0: only on news).
  tickMs?: number;
}

interface TaskState {
  label: string;
  total: number | undefined;
  unit: ProgressUnit;
  noun: string | undefined;
  expectedSeconds: number | undefined;
  transient: boolean;
  current: number;
  note: string | undefined;
  started: number;
  lastPlain: number;
  ended: boolean;
}

const BAR = 24;
const REDRAW_MS = 100;

// A duration as people read it in a status line: 42s, 2m10s, 1h05m.
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

// Seconds left: the last run's time minus the elapsed time, blended into the pace so far as the fraction done grows,
// so an early estimate comes from history and a late one from how this run goes; undefined when neither is known.
export function remainingSeconds(
  elapsed: number,
  fraction: number | undefined,
  expectedSeconds: number | undefined,
): number | undefined {
  const byPace = fraction !== undefined && fraction > 0 ? (elapsed * (1 - fraction)) / fraction : undefined;
  const byHistory = expectedSeconds !== undefined ? Math.max(0, expectedSeconds - elapsed) : undefined;
  if (byHistory === undefined || byPace === undefined) return byHistory ?? byPace;
  return (1 - fraction!) * byHistory + fraction! * byPace;
}

function formatAmount(n: number, unit: ProgressUnit): string {
  if (unit === 'items') return String(n);
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KiB`;
  return `${n} B`;
}

function fractionOf(task: TaskState): number | undefined {
  if (task.total === undefined) return undefined;
  return task.total > 0 ? Math.min(1, task.current / task.total) : 1;
}

function counts(task: TaskState, final: boolean): string {
  const noun = task.noun ? ` ${task.noun}` : '';
  if (final) return task.unit === 'bytes' || task.noun ? `${formatAmount(task.current, task.unit)}${noun}` : '';
  if (task.total === undefined && task.current === 0 && !task.noun) return '';
  const total = task.total === undefined ? '' : `/${formatAmount(task.total, task.unit)}`;
  return `${formatAmount(task.current, task.unit)}${total}${noun}`;
}

function status(task: TaskState, at: number, final = false): string {
  const elapsed = (at - task.started) / 1000;
  const parts = [counts(task, final)];
  if (final) parts.push(`done in ${formatDuration(elapsed)}`);
  else {
    parts.push(`${formatDuration(elapsed)} elapsed`);
    const left = remainingSeconds(elapsed, fractionOf(task), task.expectedSeconds);
    if (left !== undefined) parts.push(`~${formatDuration(left)} left`);
  }
  return `${task.label}: ${parts.filter(Boolean).join(', ')}`;
}

function startLine(task: TaskState): string {
  const details: string[] = [];
  if (task.total !== undefined)
    details.push(`${formatAmount(task.total, task.unit)}${task.noun ? ` ${task.noun}` : ''}`);
  if (task.expectedSeconds !== undefined) details.push(`${formatDuration(task.expectedSeconds)} last time`);
  return details.length > 0 ? `${task.label} (${details.join(', ')})` : `${task.label}: started`;
}

// The bar: filled by the fraction done, or with no total a block sliding to and fro as time passes.
function bar(task: TaskState, at: number, final: boolean): string {
  const fraction = final ? 1 : fractionOf(task);
  if (fraction === undefined) {
    const span = BAR - 4;
    const step = Math.floor((at - task.started) / 250) % (2 * span);
    const offset = step < span ? step : 2 * span - step;
    return `[${' '.repeat(offset)}====${' '.repeat(span - offset)}]     `;
  }
  const filled = Math.min(BAR, Math.round(fraction * BAR));
  // A running task never shows 100%: this build may count more than the last one did.
  const percent = final ? 100 : Math.min(99, Math.floor(fraction * 100));
  return `[${'#'.repeat(filled)}${' '.repeat(BAR - filled)}] ${String(percent).padStart(3)}%`;
}

function barLine(task: TaskState, at: number, columns: number, color: boolean, final: boolean): string {
  const room = Math.max(40, columns) - 1;
  let text = `${bar(task, at, final)} ${status(task, at, final)}`;
  if (text.length > room) text = `${text.slice(0, room - 1)}…`;
  const left = room - text.length - 2;
  if (final || !task.note || left < 8) return text;
  const note = task.note.slice(0, left);
  return `${text}  ${color ? `\x1b[2m${note}\x1b[22m` : note}`;
}

const silentTask: ProgressTask = { advance: () => undefined, done: () => undefined, abort: () => undefined };

// Progress on a stream: bars when it is a terminal (and not silenced), throttled plain lines otherwise.
export function createProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr,
  quiet = false,
  options: ProgressOptions = {},
): Progress {
  const tty = stream.isTTY === true;
  const now = options.now ?? Date.now;
  const plainMs = options.plainIntervalMs ?? 30_000;
  const tickMs = options.tickMs ?? 1000;
  const color = options.color ?? !process.env.NO_COLOR;
  const running: TaskState[] = [];
  let drawn = false;
  let lastDraw = 0;
  let ticker: NodeJS.Timeout | undefined;

  const clear = (): void => {
    if (drawn) stream.write('\r\x1b[K');
    drawn = false;
  };
  const draw = (task: TaskState): void => {
    stream.write(`\r${barLine(task, now(), stream.columns ?? 80, color, false)}\x1b[K`);
    drawn = true;
    lastDraw = now();
  };
  const refresh = (force: boolean): void => {
    const task = running.at(-1);
    if (!task) return;
    if (tty) {
      if (force || now() - lastDraw >= REDRAW_MS) draw(task);
    } else if (now() - task.lastPlain >= plainMs) {
      task.lastPlain = now();
      stream.write(`${status(task, now())}\n`);
    }
  };
  const finish = (task: TaskState, ok: boolean, summary?: string): void => {
    if (task.ended) return;
    task.ended = true;
    running.splice(running.indexOf(task), 1);
    if (running.length === 0 && ticker) {
      clearInterval(ticker);
      ticker = undefined;
    }
    clear();
    if (ok && tty && !task.transient) stream.write(`${barLine(task, now(), stream.columns ?? 80, color, true)}\n`);
    if (ok && (summary || (!tty && !task.transient))) stream.write(`${summary || status(task, now(), true)}\n`);
    if (tty && running.length > 0) draw(running.at(-1)!);
  };

  return {
    line(text, write) {
      if (quiet) return;
      clear();
      if (write) write(text);
      else stream.write(`${text}\n`);
      if (tty && running.length > 0) draw(running.at(-1)!);
    },
    start(label, total, how = 'items') {
      if (quiet) return silentTask;
      const settings = typeof how === 'string' ? { unit: how } : how;
      const task: TaskState = {
        label,
        total,
        unit: settings.unit ?? 'items',
        noun: settings.noun,
        expectedSeconds: settings.expectedSeconds,
        transient: settings.transient === true,
        current: 0,
        note: undefined,
        started: now(),
        lastPlain: now(),
        ended: false,
      };
      clear();
      if (!tty && !task.transient) stream.write(`${startLine(task)}\n`);
      running.push(task);
      if (tty) draw(task);
      if (tickMs > 0 && !ticker) {
        ticker = setInterval(() => refresh(true), tickMs);
        ticker.unref();
      }
      return {
        advance(amount, note) {
          task.current += amount;
          if (note !== undefined) task.note = note;
          if (!task.ended && running.at(-1) === task) refresh(false);
        },
        done(summary) {
          finish(task, true, summary);
        },
        abort() {
          finish(task, false);
        },
      };
    },
  };
}
