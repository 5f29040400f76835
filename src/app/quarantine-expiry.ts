// [quarantine] keep: serve deletes quarantined mail older than that, once at start and
// then every hour (and never with keep = "0s"). The quarantine store deletes in bounded
// batches, so a large backlog never holds the database long.
import type { Logger } from 'pino';
import type { QuarantineStore } from '../store/quarantine.ts';
import { startPeriodic } from './periodic.ts';

export const EXPIRY_INTERVAL_MS = 60 * 60_000;

export interface QuarantineExpiry {
  /** Runs one sweep now (also what the timer runs); resolves with how many entries went. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function startQuarantineExpiry(quarantine: Pick<QuarantineStore, 'expire'>, keepMs: number, logger: Logger, intervalMs = EXPIRY_INTERVAL_MS): QuarantineExpiry {
  const expire = () =>
    quarantine
      .expire(Date.now() - keepMs)
      .then((count) => {
        if (count > 0) logger.info({ count, keepMs }, 'expired quarantined mail deleted');
        return count;
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'quarantine expiry failed; trying again at the next sweep');
        return 0;
      });
  return startPeriodic(expire, intervalMs, { enabled: keepMs !== 0, idle: 0 });
}
