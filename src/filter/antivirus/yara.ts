// The YARA engine: the administrator's YARA rules, matched in process by YARA-X
// (VirusTotal's YARA engine, through the npm binding's prebuilt Linux x64 module,
// @litko/yara-x-linux-x64-gnu, loaded directly: the wrapper package @litko/yara-x
// names macOS modules the registry does not have, so `npm ci` refused its lock) — a second vendor
// beside ClamAV. Chosen by measured cost (README, Antivirus): ~7 µs of CPU per 10 KB
// message in process, against ~3.5 ms for spawning Debian's `yara` per message.
//
// The rules are every *.yar / *.yara file of the rules directory, compiled together once
// when serve starts (a rule that does not compile stops serve with the compiler's
// message); new or changed rules take effect at the next start. YARA matches over one
// contiguous buffer, so the engine reads the message whole — up to maxBytes, which
// the composition root sets to the SMTP size limit — and scans it off the main thread.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { AntivirusEngine, EngineVerdict, MessageSource } from './engine.ts';
import { safeSignature } from './clamd-protocol.ts';

interface CompiledRules {
  scanAsync(data: Buffer): Promise<Array<{ ruleIdentifier: string }>>;
}

export interface YaraOptions {
  name?: string;
  /** A directory of .yar/.yara files. */
  rulesDir: string;
  /** A message longer than this is not scanned: the scan fails (451). */
  maxBytes: number;
}

/** The native module (a Node-API addon); an optional dependency, installed on Linux x64 with glibc. */
const YARA_X_MODULE = '@litko/yara-x-linux-x64-gnu';

export class YaraRulesError extends Error {}

/** The rule files of `dir`, in name order. */
function ruleFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new YaraRulesError(`cannot read the yara rules directory ${dir}: ${(error as Error).message}`);
  }
  const files = names.filter((name) => /\.(yar|yara)$/i.test(name)).sort().map((name) => join(dir, name));
  if (files.length === 0) throw new YaraRulesError(`the yara rules directory ${dir} has no .yar or .yara file`);
  return files;
}

export class YaraEngine implements AntivirusEngine {
  readonly name: string;
  readonly #options: YaraOptions;
  #rules: CompiledRules | undefined;
  #version = '';

  constructor(options: YaraOptions) {
    this.name = options.name ?? 'yara';
    this.#options = options;
  }

  get rulesDir(): string {
    return this.#options.rulesDir;
  }

  /** Compiles the rules; throws YaraRulesError with the compiler's words when they do not compile. */
  async load(): Promise<void> {
    const files = ruleFiles(this.#options.rulesDir);
    const sources = files.map((file) => readFileSync(file, 'utf8'));
    let binding: { compile(source: string): CompiledRules };
    try {
      binding = createRequire(import.meta.url)(YARA_X_MODULE) as typeof binding;
    } catch (error) {
      throw new YaraRulesError(
        `the yara engine needs the npm package ${YARA_X_MODULE} (YARA-X prebuilt for Linux x64 with glibc), which is not installed or does not load here: ${(error as Error).message}`,
      );
    }
    try {
      this.#rules = binding.compile(sources.join('\n'));
    } catch (error) {
      throw new YaraRulesError(`the yara rules in ${this.#options.rulesDir} do not compile: ${(error as Error).message}`);
    }
    const digest = createHash('sha256');
    for (const source of sources) digest.update(source).update('\0');
    this.#version = `YARA-X rules ${digest.digest('hex').slice(0, 16)} (${files.length} file${files.length === 1 ? '' : 's'})`;
  }

  async scan(source: MessageSource, signal: AbortSignal): Promise<EngineVerdict> {
    const rules = this.#rules;
    if (!rules) return { verdict: 'failed', reason: 'yara rules not loaded' };
    try {
      const chunks: Buffer[] = [];
      let length = 0;
      for await (const chunk of source()) {
        if (signal.aborted) return { verdict: 'failed', reason: 'scan stopped' };
        length += chunk.length;
        if (length > this.#options.maxBytes) return { verdict: 'failed', reason: `the message is longer than yara's limit of ${this.#options.maxBytes} octets` };
        chunks.push(chunk);
      }
      const matches = await rules.scanAsync(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length));
      if (matches.length === 0) return { verdict: 'clean' };
      return { verdict: 'infected', signature: safeSignature(matches.map((m) => m.ruleIdentifier).join(',')) };
    } catch (error) {
      return { verdict: 'failed', reason: `yara: ${(error as Error).message}` };
    }
  }

  async version(): Promise<string | undefined> {
    return this.#rules ? this.#version : undefined;
  }

  async close(): Promise<void> {
    this.#rules = undefined;
  }
}
