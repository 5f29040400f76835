// At most a few password hashes at a time.
//
// scrypt (RFC 7914 §2) needs 128·N·r octets of working memory: 32 MiB for the
// parameters in password.ts. Node runs it on the libuv threadpool (4 threads unless
// UV_THREADPOOL_SIZE says otherwise), the same threads that write and read the
// message files. Without a bound, a burst of logins — or of guesses — takes every
// thread and 32 MiB per thread while deliveries wait behind them. With it, at most
// `limit` hashes run, the rest wait in order, and the pool keeps threads for the store.

export class HashSlots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  readonly limit: number;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`hash slots: limit must be a whole number ≥ 1, not ${limit}`);
    this.limit = limit;
  }

  /** Runs `work` when a slot is free; the slot is given back however `work` ends. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `running` never dips and lets a newcomer jump the queue.
      if (next) next();
      else this.running--;
    }
  }

  get busy(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }
}
