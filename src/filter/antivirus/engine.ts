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

/** How long the engines' versions are taken as current before they are asked again. */
export const VERSIONS_TTL_MS = 60_000;

/**
 * What the engines scan with, as one string ("clamd ClamAV 1.4.3/27480/…; yara YARA-X
 * rules 5f0c…"), asked of the engines at most once a minute: recorded with every stored
 * message, so that a rescan at retrieval knows whether the signatures changed since.
 * An engine that does not answer is shown as "?" (and asked again next time): a later
 * answer differs, so messages recorded meanwhile are rescanned.
 */
export class EngineVersions {
  readonly #engines: readonly AntivirusEngine[];
  readonly #ttlMs: number;
  #current: { value: string; at: number } | undefined;
  #asking: Promise<string> | undefined;

  constructor(engines: readonly AntivirusEngine[], options: { ttlMs?: number } = {}) {
    this.#engines = engines;
    this.#ttlMs = options.ttlMs ?? VERSIONS_TTL_MS;
  }

  /** The versions now; a stale value is refreshed (one question in flight at a time). */
  async current(now = Date.now()): Promise<string> {
    if (this.#current && now - this.#current.at < this.#ttlMs) return this.#current.value;
    this.#asking ??= (async () => {
      try {
        const versions = await Promise.all(this.#engines.map(async (engine) => [engine.name, await engine.version().catch(() => undefined)] as const));
        const value = versions.map(([name, version]) => `${name} ${version ?? '?'}`).join('; ');
        // Kept only when every engine answered: one that is down is asked again next time.
        if (versions.every(([, version]) => version !== undefined)) this.#current = { value, at: Date.now() };
        return value;
      } finally {
        this.#asking = undefined;
      }
    })();
    return this.#asking;
  }
}
