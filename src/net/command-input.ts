// The input side of a line protocol (SMTP, POP3, IMAP): bytes as they arrive, cut into
// command lines with a length bound, or taken as counted octets (an IMAP literal). A
// line over the bound is reported once and dropped up to its end; the session answers it.

const EMPTY = Buffer.alloc(0);

/** Returned by takeLine() once for each line over the bound. */
export const LINE_TOO_LONG = Symbol('line too long');

/** A browser or a proxy speaking HTTP to a mail port (cross-protocol attacks): closed at once. */
export const HTTP_REQUEST = /^(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|CONNECT|TRACE|PATCH) \S+ HTTP\/\d/i;

export class CommandInput {
  #buffer: Buffer = EMPTY;
  #discarding = false;

  get length(): number {
    return this.#buffer.length;
  }

  append(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  /** Drops everything buffered (e.g. what a client pipelined behind STARTTLS/STLS). */
  clear(): void {
    this.#buffer = EMPTY;
  }

  /** All buffered bytes, taken out (for a DATA phase, which is not line by line). */
  takeAll(): Buffer {
    const all = this.#buffer;
    this.#buffer = EMPTY;
    return all;
  }

  /** Puts back bytes that followed the end of a DATA phase (pipelined commands). */
  restore(rest: Buffer): void {
    this.#buffer = rest;
  }

  /**
   * Exactly `octets` bytes (RFC 9051 §4.3: the octets of a literal), or undefined until
   * that many are buffered. The caller's buffered-input bound must allow them.
   */
  takeBytes(octets: number): Buffer | undefined {
    if (this.#buffer.length < octets) return undefined;
    const taken = this.#buffer.subarray(0, octets);
    this.#buffer = this.#buffer.subarray(octets);
    return taken;
  }

  /** The first bytes buffered, without taking them. */
  peek(octets: number): Buffer {
    return this.#buffer.subarray(0, octets);
  }

  /**
   * The next complete line without its line end (CRLF, or a bare LF, which command
   * lines tolerate), LINE_TOO_LONG for a line longer than maxOctets (line end not
   * counted), or undefined when no line is complete yet.
   */
  takeLine(maxOctets: number): string | typeof LINE_TOO_LONG | undefined {
    for (;;) {
      const end = this.#buffer.indexOf(0x0a);
      if (end < 0) {
        // One octet of slack: the CR of a CRLF whose LF has not arrived yet.
        if (this.#buffer.length <= maxOctets + 1) return undefined;
        // Too long already: report it once, then drop everything up to the line end.
        this.#buffer = EMPTY;
        if (this.#discarding) return undefined;
        this.#discarding = true;
        return LINE_TOO_LONG;
      }
      const line = this.#buffer.subarray(0, this.#buffer[end - 1] === 0x0d ? end - 1 : end);
      this.#buffer = this.#buffer.subarray(end + 1);
      if (this.#discarding) {
        this.#discarding = false;
        continue;
      }
      if (line.length > maxOctets) return LINE_TOO_LONG;
      return line.toString('utf8');
    }
  }
}
