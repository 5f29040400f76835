// A streaming walk over a raw message's MIME structure: every entity (RFC 2045 §2.4),
// multipart bodies split at their boundaries (RFC 2046 §5.1.1), message/rfc822 and
// message/global bodies (RFC 2046 §5.2.1, RFC 6532 §3.7) parsed as messages, to a
// depth limit. Each entity is reported with its header fields, names and the octet
// range [start, end) it takes in the raw message: from the first octet of its header
// to the end of its body, without the line break before the next boundary (RFC 2046
// §5.1.1: that break belongs to the boundary), so replacing the range replaces the part.
//
// Memory: the input is read in pieces of at most 64 KiB; a line is held only while it
// may be a boundary (it starts with `--` and is short), a header section up to
// maxHeaderBytes, and a body only when it needs inspection (an archive by name, media
// type or magic octets, or an encoded message), into a Spool (memory, then a scratch
// file). Other bodies are decoded only as far as their first SNIFF_LENGTH octets.
//
// Lenient where clients are: LF-only line ends, a missing close delimiter (the part
// ends with the enclosing one or the input), boundaries after the close delimiter,
// unknown transfer encodings (passed as they are). What is malformed is reported as a
// problem event; the walk itself throws only what reading the input or the scratch
// directory throws.
import type { Readable } from 'node:stream';
import { archiveFormatOfMediaType, archiveFormatOfName, sniffArchive, type ArchiveFormat } from './archive-kind.ts';
import { fileNameCandidates, type RawField } from './names.ts';
import { parseFieldValue, withoutComments } from './parameters.ts';
import { BodyCollector } from './collector.ts';
import type { Spool, SpooledBody, SpoolLimits } from './spool.ts';
import { decoderFor, KNOWN_TRANSFER_ENCODINGS, type BodyDecoder } from './transfer-decoding.ts';

export interface OctetRange {
  start: number;
  end: number;
}

export interface MimeWalkOptions {
  /** Containers (multipart, message) nested at most this deep; a deeper one is reported tooDeep. */
  maxDepth?: number;
  /** Header section octets kept per entity; the rest is skipped (and noted). */
  maxHeaderBytes?: number;
  /** Where bodies that need inspection go (memory limit, maximum size, scratch directory). */
  spool: SpoolLimits;
  /** Leaves whose decoded body the caller wants too, besides archives and encoded messages (the antivirus step: every encoded attachment). */
  keepBody?: (leaf: { mediaType: string; transferEncoding: string; names: readonly string[] }) => boolean;
}

export const MIME_WALK_DEFAULTS = { maxDepth: 20, maxHeaderBytes: 65_536 } as const;

export interface MimePart {
  kind: 'part';
  /** A leaf, a multipart container or a message/rfc822 container (reported after its children). */
  structure: 'leaf' | 'multipart' | 'message';
  /** Containers around it: 0 for the message itself. */
  depth: number;
  /** Its place like an IMAP part number ([] the message, [2, 1] the first part of the second part). */
  number: number[];
  range: OctetRange;
  /** Where its body starts (after the blank line), within range. */
  bodyStart: number;
  fields: RawField[];
  /** type/subtype, lower case (text/plain when absent, RFC 2045 §5.2). */
  mediaType: string;
  /** Content-Transfer-Encoding, lower case (7bit when absent, RFC 2045 §6.1). */
  transferEncoding: string;
  /** Every file name its header fields give (names.ts). */
  names: string[];
  /** A container nested beyond maxDepth: its body was not walked. */
  tooDeep: boolean;
  /** The first octets of the decoded body (up to SNIFF_LENGTH), for leaves. */
  head: Buffer | undefined;
  /** The archive format its magic octets, names or media type claim. */
  archive: ArchiveFormat | undefined;
  /**
   * The whole decoded body, for a leaf that needs inspection (an archive, an encoded
   * message). Valid until the walk resumes: the walk disposes of it then.
   */
  body: SpooledBody | undefined;
  /** Decoded octets, when the whole body was decoded. */
  decodedSize: number | undefined;
}

export type MimeProblemKind =
  | 'missing-close-delimiter'
  | 'header-too-long'
  | 'header-not-ended'
  | 'multipart-without-boundary'
  | 'unknown-transfer-encoding'
  | 'part-after-close-delimiter';

export interface MimeProblem {
  kind: 'problem';
  problem: MimeProblemKind;
  /** The octet where it was seen. */
  offset: number;
}

export type MimeEvent = MimePart | MimeProblem;

/** A raw message: one buffer, or its pieces in order (a Readable, a MessageContent's stream()). */
export type MessageSource = Buffer | Iterable<Buffer | Uint8Array> | AsyncIterable<Buffer | Uint8Array | string> | Readable;

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;
const PIECE = 65_536;
const CR_OCTET = Buffer.of(CR);
const NEWLINE_DASH = Buffer.of(LF, DASH);
const BREAKS = [Buffer.alloc(0), Buffer.of(LF), Buffer.of(CR, LF)] as const;
/** A boundary line is `--`, the boundary (≤ 70, RFC 2046 §5.1.1), `--`, then transport padding. */
const MIN_HOLD = 1024;

type Phase = 'header' | 'body' | 'preamble' | 'parts' | 'epilogue';

interface Frame {
  start: number;
  depth: number;
  number: number[];
  phase: Phase;
  /** Header lines as octet strings, and the line being read. */
  headerLines: string[];
  headerLine: Buffer[];
  headerBytes: number;
  headerTruncated: boolean;
  /** Media type of a part with no Content-Type (message/rfc822 in a digest, RFC 2046 §5.1.5). */
  defaultType: string;
  // Known once the header is read:
  bodyStart: number;
  fields: RawField[];
  mediaType: string;
  transferEncoding: string;
  names: string[];
  structure: MimePart['structure'];
  tooDeep: boolean;
  archive: ArchiveFormat | undefined;
  /** `--boundary` for a multipart in preamble, parts or epilogue. */
  delimiter: Buffer | undefined;
  children: number;
  decoder: BodyDecoder | undefined;
  collector: BodyCollector | undefined;
  /** The line break of the body's last line, passed on only if another body line follows. */
  pendingBreak: Buffer | undefined;
}

interface Finished {
  part: Omit<MimePart, 'body'>;
  spool: Spool | undefined;
}

function newFrame(start: number, depth: number, number: number[], defaultType: string): Frame {
  return {
    start, depth, number, phase: 'header', headerLines: [], headerLine: [], headerBytes: 0, headerTruncated: false, defaultType,
    bodyStart: start, fields: [], mediaType: defaultType, transferEncoding: '7bit', names: [], structure: 'leaf', tooDeep: false,
    archive: undefined, delimiter: undefined, children: 0, decoder: undefined, collector: undefined, pendingBreak: undefined,
  };
}

/** Header lines (octet strings) as fields, continuation lines unfolded (RFC 5322 §2.2.3). */
function parseFields(lines: readonly string[]): RawField[] {
  const fields: RawField[] = [];
  for (const line of lines) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length > 0) {
      fields[fields.length - 1]!.value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1) });
  }
  for (const field of fields) field.value = field.value.trim();
  return fields;
}

const firstField = (fields: readonly RawField[], name: string) => fields.find((f) => f.name.toLowerCase() === name);

/** The pure, synchronous part of the walk: octets in, finished parts and problems out. */
class MimeScanner {
  readonly #maxDepth: number;
  readonly #maxHeaderBytes: number;
  readonly #limits: SpoolLimits;
  readonly #keepBody: MimeWalkOptions['keepBody'];
  readonly #stack: Frame[] = [];
  readonly out: (Finished | MimeProblem)[] = [];

  #position = 0;
  #atLineStart = true;
  #lineStart = 0;
  #lineLength = 0;
  #previousBreak = 0;
  #pendingCR = false;
  #hold = Buffer.alloc(MIN_HOLD);
  #holdLength = 0;
  #holding = false;
  /** Frames with a delimiter, so lines are held only when a boundary may come. */
  #delimiters = 0;

  constructor(options: MimeWalkOptions) {
    this.#maxDepth = options.maxDepth ?? MIME_WALK_DEFAULTS.maxDepth;
    this.#maxHeaderBytes = options.maxHeaderBytes ?? MIME_WALK_DEFAULTS.maxHeaderBytes;
    this.#limits = options.spool;
    this.#keepBody = options.keepBody;
    this.#stack.push(newFrame(0, 0, [], 'text/plain'));
  }

  /** Spools of bodies still being written (the caller drains them between pieces). */
  activeSpools(): Spool[] {
    return this.#stack.flatMap((frame) => (frame.collector?.spool ? [frame.collector.spool] : []));
  }

  push(chunk: Buffer): void {
    let i = 0;
    if (this.#pendingCR && chunk.length > 0) {
      this.#pendingCR = false;
      if (chunk[0] === LF) {
        this.#endLine(2);
        i = 1;
      } else {
        this.#lineData(CR_OCTET);
      }
    }
    while (i < chunk.length) {
      if (this.#atLineStart && chunk[i] !== DASH && this.#linesSkippable()) {
        const skipped = this.#skipLines(chunk, i);
        if (skipped > i) {
          i = skipped;
          continue;
        }
      }
      const lf = chunk.indexOf(LF, i);
      if (lf < 0) {
        let end = chunk.length;
        if (chunk[end - 1] === CR) {
          end--;
          this.#pendingCR = true;
        }
        if (end > i) this.#lineData(chunk.subarray(i, end));
        return;
      }
      let end = lf;
      let breakLength: 1 | 2 = 1;
      if (end > i && chunk[end - 1] === CR) {
        end--;
        breakLength = 2;
      }
      if (end > i) this.#lineData(chunk.subarray(i, end));
      this.#endLine(breakLength);
      i = lf + 1;
    }
  }

  /**
   * Whether whole lines can be taken at once: where line structure means nothing but
   * a possible boundary (a preamble, an epilogue, a body not decoded, a base64 body,
   * whose decoder skips line breaks). Lines starting with `-` are still taken one by one.
   */
  #linesSkippable(): boolean {
    const frame = this.#stack[this.#stack.length - 1]!;
    if (frame.phase === 'preamble' || frame.phase === 'epilogue') return true;
    return frame.phase === 'body' && (!frame.decoder || frame.transferEncoding === 'base64');
  }

  /** Takes the complete lines from `start` up to the next line that starts with `-`; returns where it stopped. */
  #skipLines(chunk: Buffer, start: number): number {
    const dashLine = chunk.indexOf(NEWLINE_DASH, start);
    const end = dashLine >= 0 ? dashLine + 1 : chunk.lastIndexOf(LF) + 1;
    if (end <= start) return start;
    const frame = this.#stack[this.#stack.length - 1]!;
    if (frame.phase === 'body' && frame.decoder) {
      // Base64 ignores CR and LF, so the lines go to the decoder as they are.
      this.#bodyOctets(frame, frame.decoder.data(chunk.subarray(start, end)));
    }
    this.#position += end - start;
    this.#previousBreak = end - start >= 2 && chunk[end - 2] === CR ? 2 : 1;
    return end;
  }

  /** The end of the input: every open entity ends here. */
  finish(): void {
    if (this.#pendingCR) {
      this.#pendingCR = false;
      this.#lineData(CR_OCTET);
    }
    if (!this.#atLineStart) this.#endLine(0);
    const top = this.#stack[this.#stack.length - 1]!;
    if (top.phase === 'body' && top.pendingBreak) {
      // No boundary follows: the last line break is the body's.
      this.#bodyOctets(top, top.decoder?.lineBreak(top.pendingBreak));
      top.pendingBreak = undefined;
    }
    this.#closeFramesAbove(-1, this.#position);
  }

  #beginLine(): void {
    this.#atLineStart = false;
    this.#lineStart = this.#position;
    this.#lineLength = 0;
    this.#holdLength = 0;
    this.#holding = this.#delimiters > 0;
  }

  #lineData(piece: Buffer): void {
    if (this.#atLineStart) this.#beginLine();
    this.#position += piece.length;
    this.#lineLength += piece.length;
    if (!this.#holding) {
      this.#deliver(piece);
      return;
    }
    const copied = piece.copy(this.#hold, this.#holdLength, 0, Math.min(piece.length, this.#hold.length - this.#holdLength));
    this.#holdLength += copied;
    const candidate = this.#holdLength < 2 || (this.#hold[0] === DASH && this.#hold[1] === DASH);
    if (candidate && copied === piece.length && this.#holdLength < this.#hold.length) return;
    // Not a boundary line (or too long to be one): what was held goes on as data.
    // (Consumers copy what they keep, so the hold buffer itself is passed on.)
    this.#holding = false;
    this.#deliver(this.#hold.subarray(0, this.#holdLength));
    if (copied < piece.length) this.#deliver(piece.subarray(copied));
  }

  #endLine(breakLength: 0 | 1 | 2): void {
    if (this.#atLineStart) this.#beginLine();
    if (this.#holding && this.#holdLength >= 2 && this.#boundary(breakLength)) {
      this.#position += breakLength;
      this.#previousBreak = breakLength;
      this.#atLineStart = true;
      return;
    }
    if (this.#holding && this.#holdLength > 0 && this.#consuming()) this.#deliver(this.#hold.subarray(0, this.#holdLength));
    this.#holding = false;
    this.#position += breakLength;
    this.#lineEnded(breakLength);
    this.#previousBreak = breakLength;
    this.#atLineStart = true;
  }

  /** Whether the held line is a delimiter of an open multipart; if so, acts on it. */
  #boundary(breakLength: number): boolean {
    const hold = this.#hold;
    const length = this.#holdLength;
    for (let k = this.#stack.length - 1; k >= 0; k--) {
      const frame = this.#stack[k]!;
      const delimiter = frame.delimiter;
      if (!delimiter || length < delimiter.length || hold.compare(delimiter, 0, delimiter.length, 0, delimiter.length) !== 0) continue;
      let rest = delimiter.length;
      const close = length - rest >= 2 && hold[rest] === DASH && hold[rest + 1] === DASH;
      if (close) rest += 2;
      while (rest < length && (hold[rest] === 0x20 || hold[rest] === 0x09)) rest++;
      if (rest < length) continue;
      const end = this.#lineStart - this.#previousBreak;
      this.#closeFramesAbove(k, end);
      if (close) {
        frame.phase = 'epilogue';
      } else {
        if (frame.phase === 'epilogue') this.out.push({ kind: 'problem', problem: 'part-after-close-delimiter', offset: this.#lineStart });
        frame.phase = 'parts';
        frame.children++;
        const childType = frame.mediaType === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
        this.#stack.push(newFrame(this.#lineStart + this.#lineLength + breakLength, frame.depth + 1, [...frame.number, frame.children], childType));
      }
      return true;
    }
    return false;
  }

  /** Ends every frame above index k at `end` (innermost first: children before containers). */
  #closeFramesAbove(k: number, end: number): void {
    while (this.#stack.length - 1 > k) {
      const frame = this.#stack.pop()!;
      const at = Math.max(frame.start, end);
      if (frame.phase === 'header') {
        this.out.push({ kind: 'problem', problem: 'header-not-ended', offset: at });
        this.#headerDone(frame, at, false);
      }
      if (frame.delimiter) {
        this.#delimiters--;
        if (frame.phase !== 'epilogue') this.out.push({ kind: 'problem', problem: 'missing-close-delimiter', offset: at });
      }
      let spool: Spool | undefined;
      let decodedSize: number | undefined;
      if (frame.collector) {
        if (frame.decoder) this.#bodyOctets(frame, frame.decoder.end());
        frame.collector.end();
        spool = frame.collector.spool;
        if (frame.decoder) decodedSize = frame.collector.size;
      }
      this.out.push({
        part: {
          kind: 'part',
          structure: frame.structure,
          depth: frame.depth,
          number: frame.number,
          range: { start: frame.start, end: at },
          bodyStart: Math.min(frame.bodyStart, at),
          fields: frame.fields,
          mediaType: frame.mediaType,
          transferEncoding: frame.transferEncoding,
          names: frame.names,
          tooDeep: frame.tooDeep,
          head: frame.collector?.head,
          archive: frame.archive ?? (frame.collector ? sniffArchive(frame.collector.head) : undefined),
          decodedSize,
        },
        spool,
      });
    }
  }

  /** Whether the innermost frame takes line octets (a header, or a body being decoded). */
  #consuming(): boolean {
    const frame = this.#stack[this.#stack.length - 1]!;
    return frame.phase === 'header' || (frame.phase === 'body' && frame.decoder !== undefined);
  }

  /** Line octets for the innermost frame. */
  #deliver(piece: Buffer): void {
    const frame = this.#stack[this.#stack.length - 1]!;
    if (frame.phase === 'header') {
      const room = this.#maxHeaderBytes - frame.headerBytes;
      if (piece.length > room && !frame.headerTruncated) {
        frame.headerTruncated = true;
        this.out.push({ kind: 'problem', problem: 'header-too-long', offset: this.#position });
      }
      if (room > 0) {
        const kept = piece.subarray(0, room);
        frame.headerLine.push(Buffer.from(kept));
        frame.headerBytes += kept.length;
      }
    } else if (frame.phase === 'body' && frame.decoder) {
      if (frame.pendingBreak) {
        this.#bodyOctets(frame, frame.decoder.lineBreak(frame.pendingBreak));
        frame.pendingBreak = undefined;
      }
      // (The break may have been the last octets the body needed.)
      const decoder = frame.decoder as BodyDecoder | undefined;
      if (decoder) this.#bodyOctets(frame, decoder.data(piece));
    }
  }

  #lineEnded(breakLength: 0 | 1 | 2): void {
    const frame = this.#stack[this.#stack.length - 1]!;
    if (frame.phase === 'header') {
      if (this.#lineLength === 0) {
        this.#headerDone(frame, this.#position, true);
        return;
      }
      frame.headerLines.push(Buffer.concat(frame.headerLine).toString('latin1'));
      frame.headerLine = [];
    } else if (frame.phase === 'body' && frame.decoder) {
      if (frame.pendingBreak) this.#bodyOctets(frame, frame.decoder.lineBreak(frame.pendingBreak));
      // The input's last line may end without a break: then there is none to pass on.
      frame.pendingBreak = breakLength === 0 ? undefined : BREAKS[breakLength];
    }
  }

  #bodyOctets(frame: Frame, octets: Buffer | undefined): void {
    if (!octets || !frame.collector) return;
    frame.collector.write(octets);
    if (!frame.collector.wanted) frame.decoder = undefined;
  }

  /** The header is read: what the entity is, and how its body is read. */
  #headerDone(frame: Frame, bodyStart: number, open: boolean): void {
    if (frame.headerLine.length > 0) frame.headerLines.push(Buffer.concat(frame.headerLine).toString('latin1'));
    frame.headerLine = [];
    frame.bodyStart = bodyStart;
    frame.fields = parseFields(frame.headerLines);
    frame.headerLines = [];
    frame.names = fileNameCandidates(frame.fields);
    const contentType = firstField(frame.fields, 'content-type');
    const parsed = contentType ? parseFieldValue(contentType.value) : undefined;
    frame.mediaType = parsed && /^[^/\s]+\/[^/\s]+$/u.test(parsed.value) ? parsed.value : frame.defaultType;
    const encoding = firstField(frame.fields, 'content-transfer-encoding');
    frame.transferEncoding = encoding ? withoutComments(encoding.value).trim().toLowerCase() || '7bit' : '7bit';
    const identity = ['7bit', '8bit', 'binary'].includes(frame.transferEncoding);
    const nestedDepth = frame.depth + 1;
    frame.phase = 'body';

    if (frame.mediaType.startsWith('multipart/')) {
      const boundary = parsed!.parameters.find((p) => p.name === 'boundary' && p.section === undefined)?.values[0];
      if (!boundary) {
        this.out.push({ kind: 'problem', problem: 'multipart-without-boundary', offset: frame.start });
      } else if (nestedDepth > this.#maxDepth) {
        frame.tooDeep = true;
        frame.structure = 'multipart';
        return;
      } else {
        frame.structure = 'multipart';
        if (!open) return;
        frame.phase = 'preamble';
        frame.delimiter = Buffer.from(`--${boundary}`, 'latin1');
        this.#delimiters++;
        if (frame.delimiter.length + 258 > this.#hold.length) this.#hold = Buffer.alloc(frame.delimiter.length + 258);
        return;
      }
    }
    if ((frame.mediaType === 'message/rfc822' || frame.mediaType === 'message/global') && identity) {
      frame.structure = 'message';
      if (nestedDepth > this.#maxDepth) {
        frame.tooDeep = true;
        return;
      }
      if (!open) return;
      frame.phase = 'parts';
      this.#stack.push(newFrame(bodyStart, nestedDepth, [...frame.number, 1], 'text/plain'));
      return;
    }
    if (!KNOWN_TRANSFER_ENCODINGS.has(frame.transferEncoding)) {
      this.out.push({ kind: 'problem', problem: 'unknown-transfer-encoding', offset: frame.start });
    }
    frame.archive = frame.names.map(archiveFormatOfName).find((f) => f !== undefined) ?? archiveFormatOfMediaType(frame.mediaType);
    // A message sent base64- or QP-encoded (RFC 2046 §5.2.1 forbids it; clients decode it) is
    // kept so that its parts can be walked too.
    const keep = frame.archive !== undefined || frame.mediaType.startsWith('message/') || (this.#keepBody?.(frame) ?? false);
    frame.collector = new BodyCollector(keep, this.#limits);
    frame.decoder = decoderFor(frame.transferEncoding);
    if (!open) frame.decoder = undefined;
  }
}

/**
 * The entities of a raw message, in order (a container after its children), and the
 * problems seen on the way. A part's `body` is disposed of when the walk resumes, or
 * when the loop over the walk ends.
 */
export async function* walkMime(raw: MessageSource, options: MimeWalkOptions): AsyncGenerator<MimeEvent, void, void> {
  const scanner = new MimeScanner(options);
  let body: SpooledBody | undefined;
  async function* emit(): AsyncGenerator<MimeEvent, void, void> {
    await Promise.all(scanner.activeSpools().map((spool) => spool.drain()));
    while (scanner.out.length > 0) {
      const event = scanner.out.shift()!;
      if ('part' in event) {
        body = event.spool ? await event.spool.finish() : undefined;
        try {
          yield { ...event.part, body };
        } finally {
          await body?.dispose();
          body = undefined;
        }
      } else {
        yield event;
      }
    }
  }
  try {
    const pieces = Buffer.isBuffer(raw) ? [raw] : (raw as AsyncIterable<Buffer | Uint8Array | string>);
    for await (const chunk of pieces) {
      const octets = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      for (let i = 0; i < octets.length; i += PIECE) {
        scanner.push(octets.subarray(i, i + PIECE));
        yield* emit();
      }
    }
    scanner.finish();
    yield* emit();
  } finally {
    await body?.dispose();
    // Bodies of parts never reached (the caller stopped early, or the input failed).
    const unfinished = [...scanner.activeSpools(), ...scanner.out.flatMap((e) => ('part' in e && e.spool ? [e.spool] : []))];
    await Promise.all([...new Set(unfinished)].map((spool) => spool.discard()));
  }
}
