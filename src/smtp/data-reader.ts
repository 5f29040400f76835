// The DATA-phase reader: turns the raw bytes a client sends after `354` into the
// message content, and finds the one true end of the data.
//
// SECURITY: every byte is untrusted. Only <CR><LF>.<CR><LF> ends the data. A bare CR,
// a bare LF or a NUL anywhere marks the message as refused (SMTP smuggling,
// CVE-2023-51764/51765/51766) without ending the data early, so the session stays in
// step with the client's real end of data and nothing after a fake terminator is read
// as commands. Once a problem is found no more content is handed out. Between chunks
// the reader keeps at most two held-back bytes (`.\r` or `\r`), as state rather than
// buffers; per-byte work is bounded by maxHeaderBytes; the body is scanned with
// indexOf and handed out as views of the input chunks (no copies).
//
// STANDARDS: RFC 5321 §2.3.8 (lines end in CRLF, no bare CR or LF), §4.1.1.4 (DATA and
// its end), §4.5.2 (transparency), §4.5.3.1.7 (message size); RFC 5322 §2.1 (the empty
// line ends the header section), §2.2 and §2.2.3 (header fields, folding), §3.6.7
// (Received).
//
// Pure and incremental: no I/O, and the result does not depend on how the input is
// split into chunks.

export interface DataLimits {
  /** Unstuffed message octets (RFC 5321 §4.5.3.1.7); beyond this → 'too-big'. */
  maxMessageBytes: number;
  /** Octets of the header section, up to and including the empty line; beyond → 'header-too-big'. */
  maxHeaderBytes: number;
  /** Header fields (a folded field counts once); beyond → 'too-many-header-fields'. */
  maxHeaderFields: number;
}

export type DataProblem = 'bare-cr' | 'bare-lf' | 'nul' | 'too-big' | 'header-too-big' | 'too-many-header-fields';

export interface DataChunkResult {
  /** Unstuffed message bytes to store, in order (may be empty). Views of the pushed chunks: do not modify. */
  content: Buffer[];
  /** The terminator <CRLF>.<CRLF> has been seen. */
  done: boolean;
  /** When done: the bytes that followed the terminator (pipelined commands), possibly empty. */
  rest?: Buffer;
}

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const DOT = 0x2e;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
/** "received" in lower case; a byte `| 0x20` folds ASCII upper case onto it (RFC 5322 §3.6.7, §1.2.2). */
const RECEIVED = [0x72, 0x65, 0x63, 0x65, 0x69, 0x76, 0x65, 0x64];

// Scanner states (raw bytes → unstuffed content). Plain numbers: enums are not erasable.
/** After a CRLF; the reader starts here because the DATA command's CRLF counts (RFC 5321 §4.1.1.4). */
const AT_LINE_START = 0;
const IN_LINE = 1;
/** A '.' at the start of a line: a transparency dot, or the start of the terminator. */
const AFTER_DOT = 2;
/** `.\r` at the start of a line, held back at the end of a chunk. */
const AFTER_DOT_CR = 3;
/** A CR held back at the end of a chunk: a line end if an LF follows, else bare. */
const AFTER_CR = 4;
const ENDED = 5;

// Header section states, run over accepted content only (which holds no bare CR, bare
// LF or NUL: the first of those stops acceptance), so lines end at LF.
const H_LINE_START = 0;
/** In a field name, matching "received" (`#nameMatched` bytes so far). */
const H_NAME = 1;
const H_REST_OF_LINE = 2;
/** After the CR of the empty line that ends the header section (RFC 5322 §2.1). */
const H_EMPTY_LINE = 3;
const H_BODY = 4;

type HeaderProblem = 'header-too-big' | 'too-many-header-fields';

export class DataReader {
  readonly #limits: DataLimits;
  #state = AT_LINE_START;
  #problem: DataProblem | undefined;
  #size = 0;
  /** The current push()'s content list. */
  #out: Buffer[] = [];

  #header = H_LINE_START;
  #nameMatched = 0;
  #headerFields = 0;
  #headerBytes = 0;
  #receivedCount = 0;
  #headerProblem: HeaderProblem = 'header-too-big';

  constructor(limits: DataLimits) {
    for (const key of ['maxMessageBytes', 'maxHeaderBytes', 'maxHeaderFields'] as const) {
      const value = limits[key];
      if (!(value >= 0) || (!Number.isSafeInteger(value) && value !== Infinity)) {
        throw new RangeError(`DataReader: ${key} must be a non-negative integer, got ${value}`);
      }
    }
    this.#limits = { ...limits };
  }

  /** The first problem found, if any; the message must then be refused. */
  get problem(): DataProblem | undefined {
    return this.#problem;
  }

  /** Unstuffed octets seen so far, including any past a limit or a problem. */
  get size(): number {
    return this.#size;
  }

  /** Header fields in the content accepted before the first problem (plus the one that broke the limit). */
  get headerFields(): number {
    return this.#headerFields;
  }

  /** Header section octets accepted before the first problem (plus the one that broke the limit). */
  get headerBytes(): number {
    return this.#headerBytes;
  }

  /** Header fields named "Received" (any case, colon right after the name), header section only. */
  get receivedCount(): number {
    return this.#receivedCount;
  }

  push(chunk: Buffer): DataChunkResult {
    if (this.#state === ENDED) throw new Error('DataReader.push() called after the end of data');
    const out: Buffer[] = [];
    this.#out = out;
    const n = chunk.length;
    let i = 0;
    /** Start of the content in `chunk` not yet handed to #accept. */
    let runStart = 0;
    // Next CR / LF / NUL at or after i, or n when none; -1 = not searched yet.
    let nextCr = -1;
    let nextLf = -1;
    let nextNul = -1;

    while (i < n) {
      switch (this.#state) {
        case IN_LINE: {
          // Jump to the next byte that matters; everything before it is plain content.
          if (nextLf < i) nextLf = indexOrEnd(chunk, LF, i);
          if (nextCr < i) nextCr = indexOrEnd(chunk, CR, i);
          if (nextNul < i) nextNul = this.#problem === undefined ? indexOrEnd(chunk, NUL, i) : n;
          const stop = Math.min(nextLf, nextCr, nextNul);
          if (stop === n) {
            i = n;
          } else if (stop === nextCr) {
            if (stop + 1 === n) {
              this.#accept(chunk, runStart, stop);
              runStart = n;
              i = n;
              this.#state = AFTER_CR;
            } else if (chunk[stop + 1] === LF) {
              i = stop + 2;
              this.#state = AT_LINE_START;
            } else {
              // RFC 5321 §2.3.8: CR only ever appears as part of CRLF.
              this.#accept(chunk, runStart, stop);
              this.#fail('bare-cr');
              runStart = stop;
              i = stop + 1;
            }
          } else {
            // RFC 5321 §2.3.8: a bare LF; or a NUL, which is no text at all.
            this.#accept(chunk, runStart, stop);
            this.#fail(stop === nextLf ? 'bare-lf' : 'nul');
            runStart = stop;
            i = stop + 1;
          }
          break;
        }
        case AT_LINE_START:
          if (chunk[i] === DOT) {
            // Either way the dot is not content: a transparency dot (RFC 5321 §4.5.2) or the terminator.
            this.#accept(chunk, runStart, i);
            i += 1;
            runStart = i;
            this.#state = AFTER_DOT;
          } else {
            this.#state = IN_LINE;
          }
          break;
        case AFTER_DOT:
          if (chunk[i] === CR) {
            if (i + 1 === n) {
              runStart = n;
              i = n;
              this.#state = AFTER_DOT_CR;
              break;
            }
            // RFC 5321 §4.1.1.4: <CRLF>.<CRLF> ends the data; the first CRLF is content.
            if (chunk[i + 1] === LF) return this.#end(out, chunk.subarray(i + 2));
          }
          // RFC 5321 §4.5.2: a transparency dot, already dropped; the line goes on from here.
          this.#state = IN_LINE;
          break;
        case AFTER_DOT_CR:
          // Only at i === 0: `.\r` ended the previous chunk.
          if (chunk[i] === LF) return this.#end(out, chunk.subarray(i + 1));
          this.#heldCrIsBare();
          break;
        case AFTER_CR:
          // Only at i === 0: `\r` ended the previous chunk.
          if (chunk[i] === LF) {
            this.#accept(Buffer.from([CR]), 0, 1);
            i += 1; // the LF stays in the run that starts at 0
            this.#state = AT_LINE_START;
          } else {
            this.#heldCrIsBare();
          }
          break;
      }
    }
    this.#accept(chunk, runStart, i);
    return { content: out, done: false };
  }

  /** A CR held back from the previous chunk turned out bare: it is content, but refused. */
  #heldCrIsBare(): void {
    this.#fail('bare-cr');
    this.#size += 1;
    this.#state = IN_LINE;
  }

  #end(out: Buffer[], rest: Buffer): DataChunkResult {
    this.#state = ENDED;
    return { content: out, done: true, rest };
  }

  #fail(problem: DataProblem): void {
    this.#problem ??= problem;
  }

  /**
   * Content bytes buf[start, end), unstuffed and free of bare CR, bare LF and NUL. Counts
   * them, applies the size and header limits, and hands out what comes before the first
   * problem. At one byte the size limit is checked before the header limits.
   */
  #accept(buf: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length <= 0) return;
    if (this.#problem !== undefined) {
      this.#size += length;
      return;
    }
    let stop = end;
    let problem: DataProblem | undefined;
    const room = this.#limits.maxMessageBytes - this.#size;
    if (length > room) {
      stop = start + room;
      problem = 'too-big';
    }
    if (this.#header !== H_BODY) {
      const at = this.#trackHeader(buf, start, stop);
      if (at >= 0) {
        stop = at;
        problem = this.#headerProblem;
      }
    }
    if (stop > start) this.#out.push(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop));
    this.#size += length;
    if (problem !== undefined) this.#problem = problem;
  }

  /**
   * Follows the header section through content buf[start, end). Returns the position of
   * the byte that breaks a header limit (counted, not accepted), or -1. When both limits
   * break at the same byte, the header size wins.
   */
  #trackHeader(buf: Buffer, start: number, end: number): number {
    const allowed = this.#limits.maxHeaderBytes - this.#headerBytes;
    const limit = end - start > allowed ? start + allowed : end;
    let state = this.#header;
    let i = start;
    while (i < limit && state !== H_BODY) {
      switch (state) {
        case H_REST_OF_LINE: {
          const lf = buf.indexOf(LF, i);
          if (lf === -1 || lf >= limit) {
            i = limit;
          } else {
            i = lf + 1;
            state = H_LINE_START;
          }
          break;
        }
        case H_LINE_START: {
          const b = buf[i]!;
          if (b === CR) {
            state = H_EMPTY_LINE;
            i += 1;
          } else if (b === SP || b === HTAB) {
            // RFC 5322 §2.2.3: a line starting with WSP continues the previous field.
            state = H_REST_OF_LINE;
            i += 1;
          } else {
            this.#headerFields += 1;
            if (this.#headerFields > this.#limits.maxHeaderFields) {
              this.#header = state;
              this.#headerBytes += i + 1 - start;
              this.#headerProblem = 'too-many-header-fields';
              return i;
            }
            this.#nameMatched = 0;
            state = H_NAME; // b is looked at again as the name's first byte
          }
          break;
        }
        case H_NAME: {
          // RFC 5322 §2.2: the name is everything before the first colon.
          const matched = this.#nameMatched;
          const b = buf[i]!;
          if (matched === RECEIVED.length) {
            if (b === COLON) this.#receivedCount += 1;
            state = H_REST_OF_LINE;
          } else if ((b | 0x20) === RECEIVED[matched]) {
            this.#nameMatched = matched + 1;
            i += 1;
          } else {
            state = H_REST_OF_LINE;
          }
          break;
        }
        case H_EMPTY_LINE:
          // The LF of the empty line; accepted content never holds a bare CR.
          i += 1;
          state = H_BODY;
          break;
      }
    }
    this.#header = state;
    this.#headerBytes += i - start;
    if (state !== H_BODY && i < end) {
      this.#headerBytes += 1;
      this.#headerProblem = 'header-too-big';
      return i;
    }
    return -1;
  }
}

function indexOrEnd(buf: Buffer, byte: number, from: number): number {
  const at = buf.indexOf(byte, from);
  return at === -1 ? buf.length : at;
}
