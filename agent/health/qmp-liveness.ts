// QEMU's own liveness, beside the guest's heartbeat: a QMP query-status that is not answered in time means QEMU's main
// loop is wedged (or the process is stopped), which no guest-side signal can tell apart from a quiet guest.

// The part of the QMP client the watch uses.
export interface StatusQuery {
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options?: { timeoutMs?: number }): Promise<T>;
}

// A running liveness watch.
export interface LivenessWatch {
  stop(): void;
}

// Queries every intervalMs (one query in flight at a time); calls onHung once when one goes unanswered for timeoutMs.
export function watchQmpLiveness(
  qmp: StatusQuery,
  options: { timeoutMs: number; intervalMs?: number; onHung: (reason: string) => void },
): LivenessWatch {
  const intervalMs = options.intervalMs ?? Math.max(500, Math.min(5000, Math.floor(options.timeoutMs / 3)));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const round = async (): Promise<void> => {
    if (stopped) return;
    try {
      await qmp.execute('query-status', undefined, { timeoutMs: options.timeoutMs });
    } catch (error) {
      if (stopped) return;
      // A closed connection is QEMU exiting: the process watch reports that with its own reason.
      if (/no answer within/.test((error as Error).message)) {
        stopped = true;
        options.onHung(
          `QEMU stopped answering: no reply to a QMP status query within ${+(options.timeoutMs / 1000).toFixed(1)} s (hung or stopped)`,
        );
      }
      return;
    }
    if (!stopped) timer = setTimeout(() => void round(), intervalMs);
  };
  timer = setTimeout(() => void round(), intervalMs);
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
