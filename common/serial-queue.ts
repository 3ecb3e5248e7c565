// Work that must not overlap (writes of one file, steps on one VM): each job starts once the one before has settled.

// Jobs run one at a time in the order given; a job's failure is its caller's and never keeps the next from running.
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  // Runs work after every job given before it; resolves or rejects as work does.
  run<T>(work: () => Promise<T>): Promise<T> {
    this.pending += 1;
    const result = this.tail.then(work).finally(() => {
      this.pending -= 1;
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  // Resolves once every job given so far has settled, without queueing one (what comes later does not wait for it).
  settled(): Promise<void> {
    return this.tail.then(() => undefined);
  }

  // Whether no job is waiting or running.
  get idle(): boolean {
    return this.pending === 0;
  }
}
