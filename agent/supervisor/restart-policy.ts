// When a failed VM is restarted and when it falls back: failures counted over a time window, as init systems' start
// limits do, so a VM that comes up and then keeps crashing still ends in rescue.

// The recipe's restart settings for one VM.
export interface RestartRule {
  attempts: number;
  backoffSeconds: number;
  windowSeconds: number;
}

// What to do after a failure: restart after a delay, or give up (fall back) because the rule fired.
export type RestartVerdict =
  | { restart: true; delaySeconds: number; failures: number; recent: string[] }
  | { restart: false; failures: number; recent: string[]; rule: string };

// The longest back-off between two restarts.
export const RESTART_DELAY_CAP_S = 60;

// "10 min", "90 s", "2 h": the window as a person reads it.
export function describeWindow(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

// Adds a failure at `now` to the earlier ones, forgets those older than the window, and decides. `always` (the rescue
// VM) restarts whatever the count: it is the last resort.
export function judgeFailure(rule: RestartRule, earlier: readonly string[], now: Date, always = false): RestartVerdict {
  const windowMs = rule.windowSeconds * 1000;
  const recent = [...earlier, now.toISOString()].filter((at) => now.getTime() - Date.parse(at) <= windowMs);
  const failures = recent.length;
  if (always || failures <= rule.attempts) {
    const delaySeconds = Math.min(RESTART_DELAY_CAP_S, rule.backoffSeconds * 2 ** (failures - 1));
    return { restart: true, delaySeconds, failures, recent };
  }
  return {
    restart: false,
    failures,
    recent,
    rule: `${failures} failures in ${describeWindow(rule.windowSeconds)} (restart.attempts ${rule.attempts})`,
  };
}

// The 'restart scheduled' detail: when, and which failure of how many the window allows (rescue has no limit).
export function describeRestart(
  rule: RestartRule,
  verdict: { delaySeconds: number; failures: number },
  always = false,
): string {
  const of = always ? '' : ` of ${rule.attempts + 1} in ${describeWindow(rule.windowSeconds)}`;
  return `in ${verdict.delaySeconds} s (failure ${verdict.failures}${of})`;
}

// Whether the agent starts a VM not running when it starts: the controller unless on rescue, autostart VMs, rescue
// while on it.
export function startsWithAgent(vm: { role: string; autostart: boolean }, onRescue: boolean): boolean {
  return vm.role === 'controller' ? !onRescue : vm.autostart || (vm.role === 'rescue' && onRescue);
}
