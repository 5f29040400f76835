// Logs are JSON lines on stdout (pino), one event each, for journald or a collector.
// Written synchronously: a mail server's log must keep its order and survive a crash.
import { pino, type Logger } from 'pino';

export type { Logger };

/** For a command run by hand (stdout is the user's): warnings and errors as JSON lines on stderr. */
export function createCommandLogger(): Logger {
  return pino({ level: 'warn', base: { pid: process.pid }, formatters: { level: (label) => ({ level: label }) } }, pino.destination({ dest: 2, sync: true }));
}

export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
