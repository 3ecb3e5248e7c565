// A listener the host keeps trying to bind (an earlier agent may still hold its port for a moment): the rest of the
// agent runs meanwhile, and status says which listener is down and why.
import type { ListenerStatus } from '../../common/api-types.ts';

// What status shows of one TCP listener (part of the status document's contract).
export type { ListenerStatus } from '../../common/api-types.ts';

// Binds with `bind`; on failure reports it and tries again every intervalMs until it binds or is closed.
export class RetryingListener<T extends { close: () => Promise<void> }> {
  private current: T | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly intervalMs: number;
  status: ListenerStatus;

  constructor(
    readonly name: string,
    readonly address: string,
    private readonly bind: () => Promise<T>,
    private readonly options: {
      intervalMs?: number;
      log: (line: string) => void;
      onChange?: (listener: T | undefined) => void;
    },
  ) {
    this.status = { name, address, state: 'failed', error: 'not started', since: new Date().toISOString() };
    this.intervalMs = options.intervalMs ?? 5000;
  }

  // The bound listener, once there is one.
  get value(): T | undefined {
    return this.current;
  }

  // First attempt; resolves either way (the failure is in `status`, and retries continue).
  async start(): Promise<T | undefined> {
    await this.attempt(true);
    return this.current;
  }

  private async attempt(first: boolean): Promise<void> {
    if (this.closed) return;
    try {
      const bound = await this.bind();
      if (this.closed) return void (await bound.close());
      this.current = bound;
      this.status = { name: this.name, address: this.address, state: 'listening', since: new Date().toISOString() };
      if (!first) this.options.log(`${this.name}: listening on ${this.address} after all`);
      this.options.onChange?.(bound);
    } catch (error) {
      const message = (error as Error).message;
      // One line and one new `since` per new reason, not per retry.
      const fresh = this.status.error !== message;
      if (first || fresh)
        this.options.log(
          `error: ${message}; the agent keeps running and tries again every ${Math.round(this.intervalMs / 1000)} s`,
        );
      if (fresh)
        this.status = {
          name: this.name,
          address: this.address,
          state: 'failed',
          error: message,
          since: new Date().toISOString(),
        };
      this.options.onChange?.(undefined);
      this.timer = setTimeout(() => void this.attempt(false), this.intervalMs);
    }
  }

  // Stops retrying and closes what is bound.
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.current?.close();
  }
}
