// [quarantine] keep: serve deletes quarantined mail older than that, once at start and
// then every hour (and never with keep = "0s"). The quarantine store deletes in bounded
// batches, so a large backlog never holds the database long.
import type { Logger } from 'pino';
import type { QuarantineStore } from '../store/quarantine.ts';

export const EXPIRY_INTERVAL_MS = 60 * 60_000;

export interface QuarantineExpiry {
  /** Runs one sweep now (also what the timer runs); resolves with how many entries went. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function startQuarantineExpiry(quarantine: Pick<QuarantineStore, 'expire'>, keepMs: number, logger: Logger, intervalMs = EXPIRY_INTERVAL_MS): QuarantineExpiry {
  let running: Promise<number> | undefined;
  const sweep = (): Promise<number> => {
    if (keepMs === 0) return Promise.resolve(0);
    running ??= quarantine
      .expire(Date.now() - keepMs)
      .then((count) => {
        if (count > 0) logger.info({ count, keepMs }, 'expired quarantined mail deleted');
        return count;
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'quarantine expiry failed; trying again at the next sweep');
        return 0;
      })
      .finally(() => (running = undefined));
    return running;
  };
  const timer = keepMs === 0 ? undefined : setInterval(() => void sweep(), intervalMs);
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
