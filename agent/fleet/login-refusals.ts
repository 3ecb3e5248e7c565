// Refused logins as fleet events: the first of a minute at once, the rest of that minute as one line with their count,
// so that a guesser hammering the SSH jail or the API cannot flood the fleet's events (or push other events out of the
// link's queue): at most two events a minute, whatever comes in.
import type { AuditEntry } from '../auth/audit.ts';

// The audit actions that are login attempts: the API's password login and the SSH jail's authentication methods.
const LOGIN_ACTIONS = new Set(['login', 'publickey', 'keyboard-interactive', 'password']);

function describe(entry: AuditEntry): string {
  const who = entry.who ? `${entry.who} ` : '';
  return `${who}from ${entry.source}${entry.reason ? ` (${entry.reason})` : ''}`;
}

// Counts refused logins and says them as events.
export class LoginRefusals {
  private window: NodeJS.Timeout | undefined;
  private more = 0;
  private last: AuditEntry | undefined;

  constructor(
    private readonly emit: (kind: string, text: string) => void,
    private readonly windowMs = 60_000,
  ) {}

  // Takes one refused audit entry (anything that is not a login is ignored).
  take(entry: AuditEntry): void {
    if (entry.result !== 'refused' || !LOGIN_ACTIONS.has(entry.action)) return;
    if (this.window) {
      this.more += 1;
      this.last = entry;
      return;
    }
    this.emit('login-refused', `login refused: ${describe(entry)}`);
    this.open();
  }

  private open(): void {
    this.window = setTimeout(() => {
      this.window = undefined;
      if (this.more === 0) return;
      const seconds = Math.round(this.windowMs / 1000);
      this.emit(
        'login-refused',
        `${this.more} more login${this.more === 1 ? '' : 's'} refused in ${seconds} s; the last: ${describe(this.last!)}`,
      );
      this.more = 0;
      this.last = undefined;
      // The next window starts now: a steady stream stays at one line a window.
      this.open();
    }, this.windowMs);
    this.window.unref();
  }

  // Stops the timer (the agent is stopping).
  close(): void {
    if (this.window) clearTimeout(this.window);
    this.window = undefined;
  }
}
