// Logs are JSON lines on stdout (pino), one event each, for journald or a collector.
// Written synchronously: a mail server's log must keep its order and survive a crash.
import { pino, type Logger } from 'pino';

export type { Logger };

/** `serve` logs to stdout; a command run by hand (stdout is the user's) to stderr (dest 2). */
export function createLogger(level: string, dest: 1 | 2 = 1): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest, sync: true }),
  );
}
