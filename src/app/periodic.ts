// serve's housekeeping that runs by itself: once at start, then every interval; never
// two runs at once (a sweep asked for while one runs gets that one), and stop() waits
// for the one in progress.

export interface Periodic<T> {
  /** Runs now (or joins the run in progress); also what the timer runs. */
  sweep(): Promise<T>;
  stop(): Promise<void>;
}

/** `run` must not reject: it logs its own failures and returns what it did. */
export function startPeriodic<T>(run: () => Promise<T>, intervalMs: number, { enabled = true, idle }: { enabled?: boolean; idle: T }): Periodic<T> {
  let running: Promise<T> | undefined;
  const sweep = (): Promise<T> => {
    if (!enabled) return Promise.resolve(idle);
    running ??= run().finally(() => (running = undefined));
    return running;
  };
  const timer = enabled ? setInterval(() => void sweep(), intervalMs) : undefined;
  timer?.unref();
  void sweep();
  return {
    sweep,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
