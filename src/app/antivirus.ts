// The content filters' settings: the antivirus engines of `[antivirus]`, built once per
// process, the attachment policies of `[attachments]`, and what serve says about the engines at start: a warning when fail_open weakens the default, and one when an
// engine does not answer (mail then gets 451 until it does).
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { ClamdEngine } from '../filter/antivirus/clamd.ts';
import { EngineVersions, type AntivirusEngine } from '../filter/antivirus/engine.ts';
import { YaraEngine } from '../filter/antivirus/yara.ts';
import type { AntivirusStepOptions } from '../intake/steps/antivirus.ts';
import type { AttachmentStepOptions } from '../intake/steps/attachments.ts';
import { DEFAULT_BLOCKED_EXTENSIONS } from '../filter/attachments/extensions.ts';

/** Inside data_dir (0700): decoded attachments over 1 MiB wait here while they are scanned. */
export const SCAN_SCRATCH_DIR = 'scan';

export function antivirusOptions(config: Pick<Config, 'antivirus' | 'smtp' | 'data_dir'>): AntivirusStepOptions {
  const counts = new Map<string, number>();
  const engines: AntivirusEngine[] = config.antivirus.engine.map((engine) => {
    const n = (counts.get(engine.type) ?? 0) + 1;
    counts.set(engine.type, n);
    const name = n === 1 ? engine.type : `${engine.type}#${n}`;
    if (engine.type === 'yara') return new YaraEngine({ name, rulesDir: engine.rules, maxBytes: config.smtp.max_message_size });
    const target = engine.socket !== '' ? { socket: engine.socket } : { host: engine.address!.host, port: engine.address!.port };
    return new ClamdEngine({ name, target, scanTimeoutMs: engine.timeout });
  });
  return {
    engines,
    action: config.antivirus.action,
    versions: new EngineVersions(engines),
    failOpen: config.antivirus.fail_open,
    scanTimeoutMs: Math.max(...config.antivirus.engine.map((e) => e.timeout)),
    scratchDir: join(config.data_dir, SCAN_SCRATCH_DIR),
    maxBytes: config.smtp.max_message_size,
  };
}

/** The attachment policy of each direction, from [attachments]. */
export function attachmentOptions(config: Pick<Config, 'attachments' | 'smtp' | 'data_dir'>): { inbound: AttachmentStepOptions; outbound: AttachmentStepOptions } {
  const blockedExtensions = new Set([...DEFAULT_BLOCKED_EXTENSIONS, ...config.attachments.extra_blocked_extensions]);
  const common = { blockedExtensions, scratchDir: join(config.data_dir, SCAN_SCRATCH_DIR), maxBytes: config.smtp.max_message_size };
  return {
    inbound: { ...common, direction: 'inbound', action: config.attachments.inbound },
    outbound: { ...common, direction: 'outbound', action: config.attachments.outbound },
  };
}

/** Compiles every yara engine's rules; throws (YaraRulesError) when they do not compile, so serve does not start. */
export async function prepareAntivirus(options: AntivirusStepOptions): Promise<void> {
  for (const engine of options.engines) if (engine instanceof YaraEngine) await engine.load();
}

/** Logs what each engine is, and warns about what weakens or stops scanning. */
export async function reportAntivirus(options: AntivirusStepOptions, logger: Logger): Promise<void> {
  if (options.failOpen) {
    logger.warn('antivirus.fail_open is on: when an engine is down, mail is delivered unscanned (marked X-Kakitome-Virus) instead of 451');
  }
  await Promise.all(options.engines.map(async (engine) => {
    const version = await engine.version();
    const where = engine instanceof ClamdEngine ? engine.target : engine instanceof YaraEngine ? engine.rulesDir : undefined;
    if (version === undefined) {
      logger.warn({ engine: engine.name, at: where }, 'antivirus engine does not answer: mail gets 451 4.7.1 until it does');
    } else {
      logger.info({ engine: engine.name, at: where, version }, 'antivirus engine ready');
    }
  }));
}

export async function closeAntivirus(options: AntivirusStepOptions): Promise<void> {
  await Promise.all(options.engines.map((engine) => engine.close()));
}
