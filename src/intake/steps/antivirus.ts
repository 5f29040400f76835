// Intake step `antivirus` (port 25 and submission): every configured engine scans the
// message as it arrived (draft.original, before any step changed it), in parallel
// (src/filter/antivirus/engine.ts). Malware found: 554 5.7.1 in the session, naming
// the engine and the signature, so the sender learns it at once and nothing bounces
// later. An engine down, timed out or unable to read the message: 451 4.7.1, the
// sender's server retries — never delivered unscanned, unless the administrator set
// `[antivirus] fail_open = true` (serve warns at start), in which case the message is
// delivered and marked X-Kakitome-Virus: not scanned.
import { scanWithEngines, type AntivirusEngine } from '../../filter/antivirus/engine.ts';
import type { Reply } from '../../mail/reply.ts';
import { accept, refuse, type Step } from '../step.ts';
import { VIRUS_FIELD } from './own-fields.ts';

export interface AntivirusStepOptions {
  engines: readonly AntivirusEngine[];
  failOpen: boolean;
  /** The engines' own scan timeout; the step's backstop is a little longer. */
  scanTimeoutMs: number;
}

export const ANTIVIRUS_REPLY = {
  /** RFC 3463 §3.8 X.7.1: delivery not authorized, message refused. */
  infected: (engine: string, signature: string): Reply => ({
    code: 554,
    enhanced: '5.7.1',
    text: `message refused: malware found by ${engine} (${signature})`,
  }),
  unavailable: (): Reply => ({ code: 451, enhanced: '4.7.1', text: 'virus scanning unavailable, try again later' }),
} as const;

export function antivirusStep(options: AntivirusStepOptions): Step {
  return {
    name: 'antivirus',
    timeoutMs: options.scanTimeoutMs + 5_000,
    run: async (draft, context) => {
      const result = await scanWithEngines(options.engines, () => draft.original.stream());
      switch (result.verdict) {
        case 'clean':
          return { ...accept(), notes: { antivirus: `clean (${result.engines.join(', ')})` } };
        case 'infected':
          context.logger.warn({ queueId: context.queueId, engine: result.engine, signature: result.signature }, 'malware refused');
          return refuse(ANTIVIRUS_REPLY.infected(result.engine, result.signature), { antivirus: `${result.engine}: ${result.signature}` });
        case 'failed':
          context.logger.error({ queueId: context.queueId, engine: result.engine, reason: result.reason }, 'virus scan failed');
          if (!options.failOpen) return refuse(ANTIVIRUS_REPLY.unavailable(), { antivirus: `failed: ${result.engine}` });
          return {
            action: 'modify',
            prepend: `${VIRUS_FIELD}: not scanned (${result.engine} unavailable)\r\n`,
            notes: { antivirus: `not scanned: ${result.engine} (fail_open)` },
          };
      }
    },
  };
}
