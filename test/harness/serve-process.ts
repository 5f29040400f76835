// One `kakitome serve` child process and the log lines (pino JSON on stdout, anything
// on stderr) of every serve run of an instance.
import type { ChildProcess } from 'node:child_process';
import { settlesWithin, spawnTracked } from './processes.ts';

export type LogEntry = Record<string, unknown>;

function parseJson(line: string): LogEntry | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as LogEntry) : undefined;
  } catch {
    return undefined;
  }
}

/** The lines printed by all serve runs of one instance, in order. */
export class ServeLog {
  readonly lines: string[] = [];
  readonly #listeners = new Set<(line: string) => void>();

  add(line: string): void {
    this.lines.push(line);
    for (const listener of this.#listeners) listener(line);
  }

  entries(since = 0): LogEntry[] {
    const entries: LogEntry[] = [];
    for (const line of this.lines.slice(since)) {
      const entry = parseJson(line);
      if (entry) entries.push(entry);
    }
    return entries;
  }

  /** The first entry from line `since` on, already printed or still to come, that matches. */
  waitFor(match: (entry: LogEntry) => boolean, timeoutMs: number, since = 0, signal?: AbortSignal): Promise<LogEntry> {
    const found = this.entries(since).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const listener = (line: string) => {
        const entry = parseJson(line);
        if (entry && match(entry)) finish(() => resolve(entry));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no matching kakitome log entry within ${timeoutMs} ms; logs:\n${this.lines.join('\n')}`))), timeoutMs);
      const onAbort = () => finish(() => reject(new Error('no longer waiting for a kakitome log entry')));
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
        signal?.removeEventListener('abort', onAbort);
        settle();
      };
      this.#listeners.add(listener);
      signal?.addEventListener('abort', onAbort);
    });
  }
}

/** serve could not start because a listener port was taken (the caller may retry elsewhere). */
export class PortTakenError extends Error {}

export class ServeProcess {
  readonly child: ChildProcess;
  /** The exit code; null when a signal ended the process. */
  readonly exited: Promise<number | null>;
  /** stdout and stderr are fully read. */
  readonly closed: Promise<void>;

  constructor(command: string, args: readonly string[], cwd: string, log: ServeLog, env?: NodeJS.ProcessEnv) {
    this.child = spawnTracked(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    let streamsOpen = 2;
    let allClosed = () => {};
    this.closed = new Promise((resolve) => { allClosed = resolve; });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) log.add(line);
      });
      stream.once('close', () => {
        if (partial) log.add(partial);
        if (--streamsOpen === 0) allClosed();
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => resolve(code));
      this.child.once('error', () => resolve(null));
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts serve and waits for its `"msg":"ready"` log entry; throws with its logs otherwise. `env` replaces childEnv(). */
  static async start(command: string, args: readonly string[], cwd: string, log: ServeLog, readyTimeoutMs: number, env?: NodeJS.ProcessEnv): Promise<ServeProcess> {
    const since = log.lines.length;
    const serve = new ServeProcess(command, args, cwd, log, env);
    const stopWaiting = new AbortController();
    const outcome = await Promise.race([
      log.waitFor((entry) => entry.msg === 'ready', readyTimeoutMs, since, stopWaiting.signal).then(() => 'ready' as const, () => 'timeout' as const),
      serve.exited.then(() => 'exited' as const),
    ]);
    stopWaiting.abort();
    if (outcome === 'ready') return serve;
    if (outcome === 'timeout') {
      serve.child.kill('SIGKILL');
      await serve.exited;
    }
    await settlesWithin(serve.closed, 2000);
    const logs = log.lines.slice(since).join('\n');
    const why = outcome === 'timeout' ? `was not ready within ${readyTimeoutMs} ms` : `exited with code ${serve.child.exitCode} before it was ready`;
    const message = `kakitome ${args.slice(1).join(' ')} ${why}; logs:\n${logs}`;
    throw /EADDRINUSE|address already in use/i.test(logs) ? new PortTakenError(message) : new Error(message);
  }

  /** Sends `signal` and waits for the exit; after timeoutMs, SIGKILL and an error with the logs. */
  async stop(signal: NodeJS.Signals, timeoutMs: number, log: ServeLog): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    if (!(await settlesWithin(this.exited, timeoutMs))) {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(`kakitome serve did not exit within ${timeoutMs} ms of ${signal}; logs:\n${log.lines.join('\n')}`);
    }
    await settlesWithin(this.closed, 2000);
    return this.exited;
  }
}
