// Intake step `antivirus` (port 25 and submission): every configured engine scans the
// message, in parallel (src/filter/antivirus/engine.ts), as the recipient's program will
// see it (scanMessage below): each attachment sent base64-, quoted-printable- or
// uu-encoded decoded (src/filter/attachments/mime-walk.ts) — clamd's own mail parser
// misses some (a quoted-printable binary, archives nested to its recursion limit inside
// a message), and a YARA rule sees only the octets it is given — and the rest of the
// message, without those bodies, as it is; mail that cannot hold an attachment, whole.
// It reads the content as the earlier steps left it, which differs from the message as
// it arrived only in header fields (trace fields added, X-Kakitome-* fields removed).
// Malware found, `[antivirus] action = "reject"` (the default): 554 5.7.1 in the session,
// naming the engine and the signature, so the sender learns it at once and nothing
// bounces later. `action = "replace"`: every leaf is scanned to find the infected parts;
// each is replaced by a text notice naming the file and the signature, the message is
// delivered marked X-Kakitome-Virus, and the original (as this step saw it) goes to the
// quarantine under the message's queue id. Malware found in the message as a whole but
// in no single part, or in a single-part message that is itself the file, leaves nothing
// to replace it with: refused as with reject. The versions of the engines' signatures
// are noted (scannedWith) and stored with the message, for rescans at retrieval. An
// engine down, timed out or unable to read the message: 451 4.7.1, the sender's server
// retries — never delivered unscanned, unless the administrator set
// `[antivirus] fail_open = true` (serve warns at start), in which case the message is
// delivered and marked X-Kakitome-Virus: not scanned.
import { scanWithEngines, type AntivirusEngine, type ChainVerdict, type EngineVersions } from '../../filter/antivirus/engine.ts';
import { walkMime, type MimePart } from '../../filter/attachments/mime-walk.ts';
import { readPieces } from '../../filter/attachments/source.ts';
import { ATTACHMENT_DEFAULTS } from '../../filter/attachments/inspect.ts';
import { cannotHoldAttachment } from '../../filter/attachments/plain.ts';
import { shownName } from '../../filter/attachments/names.ts';
import { parseHeaderSection } from '../../mail/header.ts';
import { mkdir } from 'node:fs/promises';
import type { Reply } from '../../mail/reply.ts';
import { accept, refuse, type Step } from '../step.ts';
import type { MessageContent } from '../content.ts';
import { VIRUS_FIELD } from './own-fields.ts';

export interface AntivirusStepOptions {
  engines: readonly AntivirusEngine[];
  /** reject: 554 in the session; replace: the infected parts replaced by notices, the original quarantined. */
  action: 'reject' | 'replace';
  /** What the engines scan with now, recorded with the stored message (rescans at retrieval). */
  versions: EngineVersions;
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

/** An infected leaf: where it is (for the notice that takes its place) and what was found. */
export interface InfectedPart {
  range: { start: number; end: number };
  names: readonly string[];
  engine: string;
  signature: string;
}

export type ScanResult = ChainVerdict & {
  /** Decoded parts scanned. */
  parts: number;
  /** With `locate`: the infected leaves, to replace. */
  infectedParts: InfectedPart[];
  /** Malware that no single part carries (the message as a whole): nothing to replace it with. */
  unlocated?: boolean;
};

/** What one walk over the leaves found: a failure, the infected leaves, and the bodies it scanned decoded. */
interface LeafScan {
  failure: Extract<ChainVerdict, { verdict: 'failed' }> | undefined;
  infected: InfectedPart[];
  parts: number;
  /** Bodies scanned decoded and whole: the rest of the message is scanned without them. */
  scannedBodies: Array<{ start: number; end: number }>;
  /** The walk found the structure malformed (a missing close delimiter, a header not ended, …). */
  malformed: boolean;
}

/**
 * A leaf scanned on its own, as the file a recipient's program would save: sent encoded,
 * or named, or not text (an attachment sent 7bit or 8bit is such a file too; clamd's
 * hash signatures match only the file's exact octets, which its own parsing of the
 * whole message does not always cut out exactly).
 */
function isFileLike(leaf: { mediaType: string; transferEncoding: string; names: readonly string[] }): boolean {
  return ENCODED.has(leaf.transferEncoding) || leaf.names.length > 0 || !leaf.mediaType.startsWith('text/');
}

/** Scans the decoded body of every leaf `wanted` picks; without `locate` the first finding ends the walk. */
async function scanLeaves(
  content: MessageContent,
  options: AntivirusStepOptions,
  locate: boolean,
  wanted: (leaf: { mediaType: string; transferEncoding: string; names: readonly string[] }) => boolean,
): Promise<LeafScan> {
  const scan: LeafScan = { failure: undefined, infected: [], parts: 0, scannedBodies: [], malformed: false };
  await scratchReady(options.scratchDir);
  const walk = walkMime(content.stream(), {
    spool: { memoryLimit: 1024 * 1024, maxSize: options.maxBytes, scratchDir: options.scratchDir },
    keepBody: wanted,
  });
  for await (const event of walk) {
    if (event.kind === 'problem') scan.malformed = true;
    if (event.kind !== 'part' || event.structure !== 'leaf' || !event.body || !wanted(event)) continue;
    if (scan.parts >= MAX_SCANNED_PARTS) break;
    const leaf: MimePart = event;
    const body = event.body;
    scan.parts++;
    // Valid until the walk resumes: scanned here, before the next event is asked for.
    const verdict = await scanWithEngines(options.engines, () => readPieces(body));
    // Leaving the loop ends the walk, which removes its scratch files.
    if (verdict.verdict === 'failed') {
      scan.failure = verdict;
      break;
    }
    if (!body.truncated) scan.scannedBodies.push({ start: leaf.bodyStart, end: leaf.range.end });
    if (verdict.verdict === 'infected') {
      scan.infected.push({ range: leaf.range, names: leaf.names, engine: verdict.engine, signature: verdict.signature });
      if (!locate) break;
    }
  }
  return scan;
}

/**
 * What the engines see of a message: mail that cannot hold an attachment, whole; other
 * mail, each file it carries (isFileLike: an encoded, named or non-text part) decoded,
 * as the recipient's program will save it, and then the rest — the message with those
 * bodies cut out: its header fields, its structure and its text — as it is (clamd
 * parses that as mail itself); when the walk found the structure malformed, the whole
 * message as it arrived instead. Nothing is scanned twice in well-formed mail:
 * a 1 MB attachment costs one scan of 1 MB, not one of the 1.4 MB message and another
 * of the file. With `locate` (action replace) every part is scanned, and when the rest
 * is infected its other leaves are scanned one by one to find the carriers; what
 * no single part carries is `unlocated`. Leaves are walked in the content as the step
 * sees it, so that their ranges are edits of it.
 */
export async function scanMessage(
  draft: Pick<Parameters<Step['run']>[0], 'original' | 'content'>,
  options: AntivirusStepOptions,
  locate: boolean,
): Promise<ScanResult> {
  // Plain mail has no part to decode: no walk (filter/attachments/plain.ts).
  if (cannotHoldAttachment(parseHeaderSection(await draft.content.header()).fields)) {
    const whole = await scanWithEngines(options.engines, () => draft.original.stream());
    return { ...whole, parts: 0, infectedParts: [], unlocated: whole.verdict === 'infected' };
  }
  const encoded = await scanLeaves(draft.content, options, locate, isFileLike);
  if (encoded.failure) return { ...encoded.failure, parts: encoded.parts, infectedParts: [] };
  if (encoded.infected.length > 0 && !locate) return { ...encoded.infected[0]!, verdict: 'infected', parts: encoded.parts, infectedParts: [] };
  // Malformed mail may be read differently by the recipient's program than by the walk:
  // then nothing is cut, and the engines see the whole message as it arrived as well.
  const rest = encoded.malformed ? draft.original : draft.content.edit(encoded.scannedBodies);
  const restVerdict = await scanWithEngines(options.engines, () => rest.stream());
  if (restVerdict.verdict === 'failed') return { ...restVerdict, parts: encoded.parts, infectedParts: [] };
  let infectedParts = encoded.infected;
  let unlocated = false;
  let parts = encoded.parts;
  if (restVerdict.verdict === 'infected') {
    if (!locate) return { ...restVerdict, parts, infectedParts: [] };
    const unencoded = await scanLeaves(draft.content, options, true, (leaf) => !isFileLike(leaf));
    if (unencoded.failure) return { ...unencoded.failure, parts: parts + unencoded.parts, infectedParts: [] };
    parts += unencoded.parts;
    infectedParts = [...infectedParts, ...unencoded.infected].sort((a, b) => a.range.start - b.range.start);
    unlocated = unencoded.infected.length === 0;
    if (unlocated) return { ...restVerdict, parts, infectedParts, unlocated };
  }
  if (infectedParts.length > 0) return { ...infectedParts[0]!, verdict: 'infected', parts, infectedParts };
  return { verdict: 'clean', engines: restVerdict.verdict === 'clean' ? restVerdict.engines : [], parts, infectedParts };
}

/** A part's first file name as the notice and the header field show it. */
const shown = (names: readonly string[]) => shownName(names[0] ?? '');

/** The text part that takes an infected part's place. */
function virusNotice(part: InfectedPart, quarantineId: string): Buffer {
  return Buffer.from([
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Disposition: inline',
    'Content-Transfer-Encoding: 7bit',
    '',
    'This mail server removed a part of this message that carries malware:',
    `  "${shown(part.names)}": ${part.signature} (found by ${part.engine})`,
    `The mail server that removed it keeps the original message in its quarantine`,
    `as ${quarantineId}.`,
  ].join('\r\n'));
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
      const [result, scannedWith] = await Promise.all([scanMessage(draft, options, options.action === 'replace'), options.versions.current()]);
      switch (result.verdict) {
        case 'clean':
          return {
            ...accept(),
            notes: { antivirus: `clean (${result.engines.join(', ')}; ${result.parts} decoded part${result.parts === 1 ? '' : 's'})`, scannedWith },
          };
        case 'infected': {
          // Replace needs a part to replace: malware in the message as a whole, or a
          // single-part message that is itself the file, is refused as with reject.
          const replaceable = !result.unlocated && result.infectedParts.length > 0 && result.infectedParts.every((part) => part.range.start > 0);
          if (!replaceable) {
            context.logger.warn({ queueId: context.queueId, engine: result.engine, signature: result.signature }, 'malware refused');
            return refuse(ANTIVIRUS_REPLY.infected(result.engine, result.signature), { antivirus: `${result.engine}: ${result.signature}` });
          }
          const found = result.infectedParts;
          context.logger.warn(
            { queueId: context.queueId, parts: found.map((p) => ({ name: shown(p.names), engine: p.engine, signature: p.signature })) },
            'malware replaced; original quarantined',
          );
          const fields = found.map((p) => `${VIRUS_FIELD}: ${p.signature} found by ${p.engine} in "${shown(p.names)}"; part replaced, original quarantined as ${context.queueId}\r\n`);
          return {
            action: 'modify',
            prepend: fields.join(''),
            edits: found.map((part) => ({ start: part.range.start, end: part.range.end, insert: virusNotice(part, context.queueId) })),
            quarantine: { reason: 'virus', detail: found.map((p) => `${p.engine}: ${p.signature} in "${shown(p.names)}"`).join('; ') },
            notes: { antivirus: `replaced ${found.length} part${found.length === 1 ? '' : 's'}`, scannedWith },
          };
        }
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
