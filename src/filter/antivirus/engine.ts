// What an antivirus engine is to the intake, and the chain that runs every configured
// engine on a message: in parallel, the first that finds something wins and the others
// are stopped; the message is clean only when every engine said so. An engine that is
// down, times out or cannot read the message makes the chain fail, never pass
// (the step decides what a failure means: 451 by default).

/** The message, as many times as there are engines: each call starts a new read. */
export type MessageSource = () => AsyncIterable<Buffer>;

export type EngineVerdict =
  | { verdict: 'clean' }
  | { verdict: 'infected'; signature: string }
  | { verdict: 'failed'; reason: string };

export interface AntivirusEngine {
  /** For replies and logs: "clamd", "yara", or the config's name for it. */
  readonly name: string;
  /** Scans the message once; never throws (a problem is a `failed` verdict). */
  scan(source: MessageSource, signal: AbortSignal): Promise<EngineVerdict>;
  /** What the engine scans with now, e.g. "ClamAV 1.4.6/27123/…"; undefined when unknown. */
  version(): Promise<string | undefined>;
  close(): Promise<void>;
}

export type ChainVerdict =
  | { verdict: 'clean'; engines: string[] }
  | { verdict: 'infected'; engine: string; signature: string }
  | { verdict: 'failed'; engine: string; reason: string };

/**
 * Runs every engine on the message at once. Resolves with the first `infected` (the
 * other scans are aborted), else the first `failed` once all have answered, else clean.
 */
export async function scanWithEngines(engines: readonly AntivirusEngine[], source: MessageSource): Promise<ChainVerdict> {
  if (engines.length === 0) return { verdict: 'failed', engine: 'antivirus', reason: 'no engine configured' };
  const stop = new AbortController();
  let failure: ChainVerdict | undefined;
  let pending = engines.length;
  return new Promise<ChainVerdict>((resolve) => {
    for (const engine of engines) {
      const settle = (verdict: EngineVerdict) => {
        pending--;
        if (verdict.verdict === 'infected') {
          stop.abort();
          resolve({ verdict: 'infected', engine: engine.name, signature: verdict.signature });
        } else if (verdict.verdict === 'failed') {
          failure ??= { verdict: 'failed', engine: engine.name, reason: verdict.reason };
        }
        if (pending === 0) resolve(failure ?? { verdict: 'clean', engines: engines.map((e) => e.name) });
      };
      engine.scan(source, stop.signal).then(settle, (error: unknown) => settle({ verdict: 'failed', reason: String((error as Error)?.message ?? error) }));
    }
  });
}
