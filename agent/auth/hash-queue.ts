// Password hashing (scrypt, ~100 ms and 32 MiB each) one or two at a time, with a bounded wait: a flood of logins is
// refused, not queued. scrypt runs on libuv's small thread pool (4 threads), which file reads share; unbounded, 100
// logins made a file read wait 10 s.

// How many hashes run at once and how many may wait.
export interface HashQueuePolicy {
  concurrency: number;
  // Tasks that may wait for a slot; one more is refused at once, before it is run.
  depth: number;
}

// The defaults: one hash at a time (three pool threads stay free for files), eight waiting (under a second at ~100 ms
// each).
export const DEFAULT_HASH_QUEUE: HashQueuePolicy = { concurrency: 1, depth: 8 };

// What a hash is assumed to take before one has been timed.
const FIRST_ESTIMATE_MS = 100;

// Runs tasks with bounded concurrency and a bounded waiting line, timing them to say when a refused caller should come
// back.
export class HashQueue {
  private readonly policy: HashQueuePolicy;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private averageMs = FIRST_ESTIMATE_MS;

  constructor(policy: Partial<HashQueuePolicy> = {}) {
    this.policy = { ...DEFAULT_HASH_QUEUE, ...policy };
  }

  // Whether a task given now would be taken.
  hasRoom(): boolean {
    return this.running < this.policy.concurrency || this.waiting.length < this.policy.depth;
  }

  // Runs the task when a slot frees; undefined at once, without running it, when the line is full.
  tryRun<T>(task: () => Promise<T>): Promise<T> | undefined {
    if (!this.hasRoom()) return undefined;
    return new Promise<void>((resolve) => {
      if (this.running < this.policy.concurrency) {
        this.running += 1;
        resolve();
      } else {
        this.waiting.push(resolve);
      }
    }).then(async () => {
      const started = Date.now();
      try {
        return await task();
      } finally {
        this.averageMs = 0.8 * this.averageMs + 0.2 * (Date.now() - started);
        this.release();
      }
    });
  }

  // When the line now ahead would be through: whole seconds, at least one (the unit of Retry-After).
  retryAfterMs(): number {
    const ahead = this.running + this.waiting.length;
    return Math.max(1, Math.ceil(((ahead / this.policy.concurrency) * this.averageMs) / 1000)) * 1000;
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running -= 1;
  }
}
