// Attachment inspection: one streaming pass over a raw message that reports every part
// whose name is refused (extensions.ts), every archive entry whose name is refused,
// encrypted archives, zip bombs, nesting past the limits and archives that cannot be
// read. It decides nothing: the policy maps findings to verdicts, and a finding's
// partRange is what a ContentEdit replaces to remove the part.
//
// MEMORY BUDGET, measured by test/filter/attachments/memory.test.ts: a 27 MiB message
// with a 20 MiB zip attachment (base64, 26.7 MiB of it; the zip is listed from its
// central directory at the end, so all of it is decoded to a scratch file first), read
// from a file stream and inspected in a child process, in under a second. Over the
// readings just before the call, peak RSS grew 14-20 MiB and heap + external buffers
// 13 MiB (Node 24, x64, nine runs); most of it is spent 64 KiB input pieces the
// collector has not reclaimed yet: with a gc() every 20 ms the growth is 7 MiB RSS and
// 3.3 MiB heap + external. The test holds both peaks under 32 MiB. What stays in
// memory per attachment: at most memoryLimit (1 MiB) of decoded body before the
// scratch file takes over, one 64 KiB input piece and two 64 KiB write blocks, a
// header section (maxHeaderBytes, 64 KiB) per open MIME level, and one 64 KiB read
// window per archive being read (at most maxArchiveDepth deep, each nested one with
// its own 1 MiB spool).
import { archiveFormatOfName, sniffArchive } from './archive-kind.ts';
import { ARCHIVE_DEFAULTS, inspectArchive, newInspection, type ArchiveLimits } from './archives.ts';
import { classifyFileName, DEFAULT_BLOCKED_EXTENSIONS } from './extensions.ts';
import { MIME_WALK_DEFAULTS, walkMime, type MessageSource, type MimePart, type OctetRange } from './mime-walk.ts';
import type { AttachmentFinding, AttachmentReport, PartSummary } from './report.ts';
import { readPieces } from './source.ts';
import type { SpoolLimits } from './spool.ts';

export interface AttachmentOptions extends Partial<ArchiveLimits> {
  /** Directory for scratch files (bodies past memoryLimit); files are 0600 and removed before the call returns. */
  scratchDir: string;
  /** Refused extensions, lower case without the dot (DEFAULT_BLOCKED_EXTENSIONS). */
  blockedExtensions?: ReadonlySet<string>;
  /** MIME containers nested at most this deep, encoded messages included (20). */
  maxMimeDepth?: number;
  /** Header section octets kept per part (64 KiB). */
  maxHeaderBytes?: number;
  /** Decoded octets held in memory per body or archive entry before a scratch file is used (1 MiB). */
  memoryLimit?: number;
  /** Decoded octets kept per body or nested archive (64 MiB); a larger archive is unreadable (too-large). */
  maxSpoolSize?: number;
  /**
   * MIME entities inspected at most (10 000), encoded messages' included: a message of
   * millions of empty parts would otherwise cost a summary each. Past it: too-many-parts.
   */
  maxParts?: number;
}

/** Problems kept at most: they are informational, and one per part could be millions. */
export const MAX_PROBLEMS = 100;

export const ATTACHMENT_DEFAULTS = {
  ...ARCHIVE_DEFAULTS,
  maxMimeDepth: MIME_WALK_DEFAULTS.maxDepth,
  maxHeaderBytes: MIME_WALK_DEFAULTS.maxHeaderBytes,
  memoryLimit: 1024 * 1024,
  maxSpoolSize: 64 * 1024 * 1024,
  maxParts: 10_000,
} as const;

interface Walk {
  blocked: ReadonlySet<string>;
  limits: ArchiveLimits;
  spool: SpoolLimits;
  maxMimeDepth: number;
  maxHeaderBytes: number;
  maxParts: number;
  /** Entities seen so far; the walk stops past maxParts. */
  parts: number;
  stopped: boolean;
  report: AttachmentReport;
}

/** The name a part is shown by in findings: a refused one if any (the worse wins), else the first. */
function displayName(part: MimePart, blocked: ReadonlySet<string>): string {
  return part.names.find((name) => classifyFileName(name, blocked)) ?? part.names[0] ?? '';
}

async function walk(
  raw: MessageSource,
  context: Walk,
  /** For the parts of an encoded message: the message part's range, depth and path. */
  outer: { range: OctetRange; depth: number; path: string[] } | undefined,
): Promise<void> {
  const { report, blocked } = context;
  const baseDepth = outer ? outer.depth : 0;
  const events = walkMime(raw, {
    maxDepth: context.maxMimeDepth - baseDepth,
    maxHeaderBytes: context.maxHeaderBytes,
    spool: context.spool,
  });
  for await (const event of events) {
    if (event.kind === 'problem') {
      if (report.problems.length < MAX_PROBLEMS) report.problems.push(outer ? { ...event, offset: outer.range.start } : event);
      continue;
    }
    const part = event;
    const partRange = outer ? outer.range : part.range;
    const name = displayName(part, blocked);
    const path = [...(outer?.path ?? []), name];
    if (++context.parts > context.maxParts) {
      report.findings.push({ kind: 'too-many-parts', partRange, name, path, limit: context.maxParts });
      context.stopped = true;
    }
    if (context.stopped) break;
    const summary: PartSummary = {
      range: partRange,
      number: part.number,
      structure: part.structure,
      mediaType: part.mediaType,
      transferEncoding: part.transferEncoding,
      names: part.names,
      decodedSize: part.decodedSize,
      archive: undefined,
    };
    if (!outer) report.parts.push(summary);
    const finding = (f: AttachmentFinding) => report.findings.push(f);
    if (part.tooDeep) finding({ kind: 'too-deep', partRange, name, path, limit: 'mime', depth: baseDepth + part.depth + 1 });
    const verdict = part.names.map((n) => ({ n, verdict: classifyFileName(n, blocked) })).find((v) => v.verdict);
    if (verdict) {
      finding({ kind: 'blocked', partRange, name: verdict.n, path: [...(outer?.path ?? []), verdict.n], reason: verdict.verdict!.reason, extension: verdict.verdict!.extension });
      continue;
    }
    const body = part.body;
    if (!body || part.structure !== 'leaf') continue;
    if (part.mediaType.startsWith('message/') && !part.archive && !sniffArchive(part.head ?? Buffer.alloc(0))) {
      // A message sent encoded: its parts are walked too, and found by the outer part's range.
      const depth = baseDepth + part.depth + 1;
      if (depth >= context.maxMimeDepth) finding({ kind: 'too-deep', partRange, name, path, limit: 'mime', depth: depth + 1 });
      else await walk(readPieces(body), context, { range: partRange, depth, path });
      if (context.stopped) break;
      continue;
    }
    const format = sniffArchive(part.head ?? Buffer.alloc(0)) ?? part.archive ?? part.names.map(archiveFormatOfName).find((f) => f !== undefined);
    if (!format) continue;
    const inspection = newInspection(context.limits, blocked, context.spool, partRange);
    if (body.truncated) {
      inspection.findings.push({ kind: 'unreadable-archive', partRange, name, path, format, reason: 'too-large', detail: `more than ${context.spool.maxSize} decoded octets` });
    } else {
      summary.archive = await inspectArchive(inspection, body, format, path);
    }
    report.findings.push(...inspection.findings);
  }
}

/**
 * Inspects the attachments of a raw message (RFC 5322 with MIME, RFC 2045–2049),
 * streaming. Pure: no logging, no configuration, no protocol. Rejects only with an
 * error of reading `raw` or of the scratch directory.
 */
export async function inspectAttachments(raw: MessageSource, options: AttachmentOptions): Promise<AttachmentReport> {
  const limits: ArchiveLimits = {
    maxArchiveDepth: options.maxArchiveDepth ?? ATTACHMENT_DEFAULTS.maxArchiveDepth,
    maxEntries: options.maxEntries ?? ATTACHMENT_DEFAULTS.maxEntries,
    maxRatio: options.maxRatio ?? ATTACHMENT_DEFAULTS.maxRatio,
    ratioMinSize: options.ratioMinSize ?? ATTACHMENT_DEFAULTS.ratioMinSize,
    maxExpandedSize: options.maxExpandedSize ?? ATTACHMENT_DEFAULTS.maxExpandedSize,
    maxNestedArchives: options.maxNestedArchives ?? ATTACHMENT_DEFAULTS.maxNestedArchives,
  };
  const report: AttachmentReport = { findings: [], parts: [], problems: [] };
  await walk(
    raw,
    {
      blocked: options.blockedExtensions ?? DEFAULT_BLOCKED_EXTENSIONS,
      limits,
      spool: {
        memoryLimit: options.memoryLimit ?? ATTACHMENT_DEFAULTS.memoryLimit,
        maxSize: options.maxSpoolSize ?? ATTACHMENT_DEFAULTS.maxSpoolSize,
        scratchDir: options.scratchDir,
      },
      maxMimeDepth: options.maxMimeDepth ?? ATTACHMENT_DEFAULTS.maxMimeDepth,
      maxHeaderBytes: options.maxHeaderBytes ?? ATTACHMENT_DEFAULTS.maxHeaderBytes,
      maxParts: options.maxParts ?? ATTACHMENT_DEFAULTS.maxParts,
      parts: 0,
      stopped: false,
      report,
    },
    undefined,
  );
  // Containers come after their children in the walk; findings read best in message order.
  report.findings.sort((a, b) => a.partRange.start - b.partRange.start);
  report.parts.sort((a, b) => a.range.start - b.range.start);
  return report;
}
