// Progress for long steps: a redrawn bar on a terminal, plain start/finish lines otherwise (CI logs, pipes).

// One running task's progress.
export interface ProgressTask {
  advance(amount: number): void;
  done(summary?: string): void;
}

// Makes progress tasks for one output stream.
export interface Progress {
  start(label: string, total: number, unit?: 'bytes' | 'items'): ProgressTask;
  line(text: string): void;
}

function formatAmount(n: number, unit: 'bytes' | 'items'): string {
  if (unit === 'items') return String(n);
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KiB`;
  return `${n} B`;
}

// Progress on a stream: bars when it is a terminal (and not silenced), lines otherwise.
export function createProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr,
  quiet = false,
): Progress {
  const tty = stream.isTTY === true && !quiet;
  return {
    line(text) {
      if (!quiet) stream.write(`${text}\n`);
    },
    start(label, total, unit = 'items') {
      let current = 0;
      let lastDraw = 0;
      if (!tty && !quiet) stream.write(`${label} (${formatAmount(total, unit)})\n`);
      const draw = (): void => {
        const width = 24;
        const filled = total > 0 ? Math.min(width, Math.round((current / total) * width)) : width;
        const percent = total > 0 ? Math.min(100, Math.floor((current / total) * 100)) : 100;
        stream.write(
          `\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${String(percent).padStart(3)}% ${label} ${formatAmount(current, unit)}/${formatAmount(total, unit)}\x1b[K`,
        );
      };
      return {
        advance(amount) {
          current += amount;
          const now = Date.now();
          if (tty && now - lastDraw > 100) {
            lastDraw = now;
            draw();
          }
        },
        done(summary) {
          if (tty) {
            draw();
            stream.write('\n');
          }
          if (summary && !quiet) stream.write(`${summary}\n`);
        },
      };
    },
  };
}
