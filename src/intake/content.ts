// The bytes of a message in transit, as a list of segments: pieces held in memory and
// ranges of a scratch file (a large message spilled to disk while it arrived). Edits
// (fields added on top, fields removed, a MIME part replaced) make a new list that
// shares the unchanged pieces, so a 25 MB message is never copied to change its
// header, and a step that streams never holds it in memory whole.
import { Readable } from 'node:stream';

/** Reads a range of a scratch file (the DeliveryStore's reserved files). */
export interface ScratchReader {
  openMessageFile(name: string, range?: { start: number; end: number }): Readable;
}

type Segment = { data: Buffer } | { file: string; start: number; end: number };

/** One change to the content: the octets [start, end) become `insert` (or nothing). */
export interface ContentEdit {
  start: number;
  end: number;
  insert?: Buffer;
}

export class InvalidEditError extends RangeError {}

const HEADER_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
/** How far header() reads into a file segment looking for the end of the header. */
const MAX_HEADER_SCAN = 1024 * 1024;

export class MessageContent {
  readonly #segments: readonly Segment[];
  readonly #files: ScratchReader | undefined;
  readonly size: number;

  private constructor(segments: readonly Segment[], files: ScratchReader | undefined) {
    this.#segments = segments.filter((s) => ('data' in s ? s.data.length > 0 : s.end > s.start));
    this.#files = files;
    this.size = this.#segments.reduce((n, s) => n + ('data' in s ? s.data.length : s.end - s.start), 0);
  }

  static fromBuffer(data: Buffer): MessageContent {
    return new MessageContent([{ data }], undefined);
  }

  /** The first `size` octets of a scratch file. */
  static fromFile(files: ScratchReader, file: string, size: number): MessageContent {
    return new MessageContent([{ file, start: 0, end: size }], files);
  }

  /** True when every octet is in memory (no scratch file). */
  get inMemory(): boolean {
    return this.#segments.every((s) => 'data' in s);
  }

  /** The whole content in one buffer (reads the scratch file, if any). */
  async read(): Promise<Buffer> {
    if (this.inMemory) {
      const pieces = this.#segments as readonly { data: Buffer }[];
      return pieces.length === 1 ? pieces[0]!.data : Buffer.concat(pieces.map((piece) => piece.data), this.size);
    }
    const pieces: Buffer[] = [];
    for await (const chunk of this.stream()) pieces.push(chunk as Buffer);
    return Buffer.concat(pieces, this.size);
  }

  /** The content as a stream of buffers, segment after segment. */
  stream(): Readable {
    const segments = this.#segments;
    const files = this.#files;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (const segment of segments) {
        if ('data' in segment) {
          yield segment.data;
        } else {
          for await (const chunk of files!.openMessageFile(segment.file, segment)) yield chunk as Buffer;
        }
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  /**
   * The header section and the blank line that ends it (RFC 5322 §2.1), or the whole
   * content when it has no body. Reads at most the first MiB of a scratch file, and
   * copies no more than the header: the end is looked for piece by piece (and across
   * the seam between pieces), so a header above a 1 MB body in memory costs no copy of
   * the body.
   */
  async header(): Promise<Buffer> {
    const pieces: Buffer[] = [];
    let length = 0;
    let tail = Buffer.alloc(0);
    const source: Iterable<Buffer> | AsyncIterable<Buffer> = this.inMemory ? this.#segments.map((segment) => (segment as { data: Buffer }).data) : this.stream();
    for await (const chunk of source) {
      const seam = Buffer.concat([tail, chunk.subarray(0, HEADER_END.length - 1)]);
      const inSeam = seam.indexOf(HEADER_END);
      const inChunk = inSeam >= 0 ? -1 : chunk.indexOf(HEADER_END);
      const end = inSeam >= 0 ? length - tail.length + inSeam : inChunk >= 0 ? length + inChunk : -1;
      pieces.push(chunk);
      length += chunk.length;
      if (length >= CRLF.length && firstOctets(pieces, CRLF.length).equals(CRLF)) return firstOctets(pieces, CRLF.length);
      if (end >= 0) return firstOctets(pieces, end + HEADER_END.length);
      if (!this.inMemory && length >= MAX_HEADER_SCAN) return firstOctets(pieces, length);
      const recent = Buffer.concat([tail, chunk.subarray(Math.max(0, chunk.length - (HEADER_END.length - 1)))]);
      tail = recent.subarray(Math.max(0, recent.length - (HEADER_END.length - 1)));
    }
    return firstOctets(pieces, length);
  }

  /** The first `octets` octets (fewer when the content is shorter); a file is read no further. */
  async start(octets: number): Promise<Buffer> {
    const pieces: Buffer[] = [];
    let length = 0;
    const source: Iterable<Buffer> | AsyncIterable<Buffer> = this.inMemory ? this.#segments.map((segment) => (segment as { data: Buffer }).data) : this.stream();
    for await (const chunk of source) {
      pieces.push(chunk);
      length += chunk.length;
      if (length >= octets) break;
    }
    return firstOctets(pieces, Math.min(length, octets));
  }

  /** A new content with the edits applied (non-overlapping, offsets in this content). */
  edit(edits: readonly ContentEdit[]): MessageContent {
    const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
    let previousEnd = 0;
    for (const e of sorted) {
      if (e.start < previousEnd || e.end < e.start || e.end > this.size) {
        throw new InvalidEditError(`edit [${e.start}, ${e.end}) overlaps another or lies outside the ${this.size} octets`);
      }
      previousEnd = e.end;
    }
    const out: Segment[] = [];
    let position = 0;
    for (const e of sorted) {
      out.push(...this.#slice(position, e.start));
      if (e.insert) out.push({ data: e.insert });
      position = e.end;
    }
    out.push(...this.#slice(position, this.size));
    return new MessageContent(out, this.#files);
  }

  /** Fields (CRLF-terminated) added on top. */
  prepend(fields: string | Buffer): MessageContent {
    const data = typeof fields === 'string' ? Buffer.from(fields) : fields;
    return this.edit([{ start: 0, end: 0, insert: data }]);
  }

  /** The segments covering the octets [from, to). */
  #slice(from: number, to: number): Segment[] {
    const out: Segment[] = [];
    let offset = 0;
    for (const segment of this.#segments) {
      const length = 'data' in segment ? segment.data.length : segment.end - segment.start;
      const start = Math.max(from, offset);
      const end = Math.min(to, offset + length);
      if (start < end) {
        if ('data' in segment) {
          out.push({ data: segment.data.subarray(start - offset, end - offset) });
        } else {
          out.push({ file: segment.file, start: segment.start + start - offset, end: segment.start + end - offset });
        }
      }
      offset += length;
      if (offset >= to) break;
    }
    return out;
  }
}

/** The first `n` octets of `pieces`, copying only when they span more than the first piece. */
function firstOctets(pieces: readonly Buffer[], n: number): Buffer {
  return pieces[0] !== undefined && pieces[0].length >= n ? pieces[0].subarray(0, n) : Buffer.concat(pieces, n);
}
