// Intake step `antivirus` (port 25 and submission): every configured engine scans the
// message as it arrived (draft.original, before any step changed it), in parallel
// (src/filter/antivirus/engine.ts) — the whole message, and then each attachment sent
// base64-, quoted-printable- or uu-encoded, decoded (src/filter/attachments/mime-walk.ts):
// clamd's own mail parser misses some (a quoted-printable binary, archives nested to its
// recursion limit inside a message), and a YARA rule sees only the octets it is given.
// Malware found: 554 5.7.1 in the session, naming the engine and the signature, so the
// sender learns it at once and nothing bounces later. An engine down, timed out or unable to read the message: 451 4.7.1, the
// sender's server retries — never delivered unscanned, unless the administrator set
// `[antivirus] fail_open = true` (serve warns at start), in which case the message is
// delivered and marked X-Kakitome-Virus: not scanned.
import { scanWithEngines, type AntivirusEngine, type ChainVerdict } from '../../filter/antivirus/engine.ts';
import { walkMime } from '../../filter/attachments/mime-walk.ts';
import { readPieces } from '../../filter/attachments/source.ts';
import { ATTACHMENT_DEFAULTS } from '../../filter/attachments/inspect.ts';
import { cannotHoldAttachment } from '../../filter/attachments/plain.ts';
import { parseHeaderSection } from '../../mail/header.ts';
import { mkdir } from 'node:fs/promises';
import type { Reply } from '../../mail/reply.ts';
import { accept, refuse, type Step } from '../step.ts';
import { VIRUS_FIELD } from './own-fields.ts';

export interface AntivirusStepOptions {
  engines: readonly AntivirusEngine[];
  failOpen: boolean;
  /** The engines' own scan timeout; the step's backstop is a little longer. */
  scanTimeoutMs: number;
  /** Where decoded attachments over 1 MiB are spooled while they are scanned (0700, inside data_dir). */
  scratchDir: string;
  /** The largest decoded attachment kept for scanning: the message size limit. */
  maxBytes: number;
}

const madeDirs = new Map<string, Promise<unknown>>();

/** Makes the scratch directory once per process (a mkdir per message cost 8 % of the main thread). */
export function scratchReady(dir: string): Promise<unknown> {
  let made = madeDirs.get(dir);
  if (!made) {
    made = mkdir(dir, { recursive: true, mode: 0o700 });
    made.catch(() => madeDirs.delete(dir));
    madeDirs.set(dir, made);
  }
  return made;
}

/** Encodings whose decoded octets differ from what is on the wire (RFC 2045 §6; uuencode as clients send it). */
const ENCODED = new Set(['base64', 'quoted-printable', 'x-uuencode', 'uuencode', 'x-uue']);

/**
 * Decoded parts scanned at most. The attachment step (next) refuses a message of more
 * MIME parts than this (ATTACHMENT_DEFAULTS.maxParts), so none is delivered half-scanned.
 */
const MAX_SCANNED_PARTS = ATTACHMENT_DEFAULTS.maxParts;

/** The message as a whole, then every encoded leaf decoded; stops at the first finding or failure. */
async function scanMessage(draft: Parameters<Step['run']>[0], options: AntivirusStepOptions): Promise<ChainVerdict & { parts: number }> {
  const whole = await scanWithEngines(options.engines, () => draft.original.stream());
  // Plain mail has no part to decode: no walk (filter/attachments/plain.ts).
  if (whole.verdict !== 'clean' || cannotHoldAttachment(parseHeaderSection(await draft.original.header()).fields)) return { ...whole, parts: 0 };
  let parts = 0;
  await scratchReady(options.scratchDir);
  const walk = walkMime(draft.original.stream(), {
    spool: { memoryLimit: 1024 * 1024, maxSize: options.maxBytes, scratchDir: options.scratchDir },
    keepBody: (leaf) => ENCODED.has(leaf.transferEncoding),
  });
  for await (const event of walk) {
    if (event.kind !== 'part' || event.structure !== 'leaf' || !event.body || !ENCODED.has(event.transferEncoding)) continue;
    if (parts >= MAX_SCANNED_PARTS) break;
    const body = event.body;
    parts++;
    // Valid until the walk resumes: scanned here, before the next event is asked for.
    const verdict = await scanWithEngines(options.engines, () => readPieces(body));
    // Leaving the loop ends the walk, which removes its scratch files.
    if (verdict.verdict !== 'clean') return { ...verdict, parts };
  }
  return { ...whole, parts };
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
      const result = await scanMessage(draft, options);
      switch (result.verdict) {
        case 'clean':
          return { ...accept(), notes: { antivirus: `clean (${result.engines.join(', ')}; ${result.parts} decoded part${result.parts === 1 ? '' : 's'})` } };
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
