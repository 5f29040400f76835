// Content-Transfer-Encoding decoders (RFC 2045 §6) fed a body line by line, in
// pieces: a line's octets (without its line break) may come in several calls, and
// the break comes separately, so a 20 MB body on one line is never held whole.
// Decoding is lenient as clients are: base64 skips characters outside its alphabet
// (RFC 2045 §6.8), quoted-printable keeps a malformed `=` as it is (§6.7, note 1).

/**
 * The returned octets are valid until the next call (they may share the decoder's
 * buffer, or the piece passed in): the consumer copies what it keeps.
 */
export interface BodyDecoder {
  /** Octets of a line (no line break). */
  data(piece: Buffer): Buffer;
  /** The line break that ended a line, as it was written (CRLF or LF). */
  lineBreak(raw: Buffer): Buffer;
  /** The end of the body. */
  end(): Buffer;
}

const EMPTY = Buffer.alloc(0);

/** An output buffer reused from call to call, grown when a piece needs more. */
class Output {
  #buffer = Buffer.allocUnsafe(4096);
  get(length: number): Buffer {
    if (this.#buffer.length < length) this.#buffer = Buffer.allocUnsafe(Math.max(length, this.#buffer.length * 2));
    return this.#buffer;
  }
}
const CRLF = Buffer.from('\r\n');

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_VALUES = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let i = 0; i < BASE64_ALPHABET.length; i++) table[BASE64_ALPHABET.charCodeAt(i)] = i;
  // RFC 4648 §5 (base64url): some senders use it; clients decode it.
  table[0x2d] = 62;
  table[0x5f] = 63;
  return table;
})();

const LINE_BREAKS = /[\r\n]/g;
/** Below this a piece is decoded here: the native path's string work would cost more. */
const NATIVE_MIN_BYTES = 512;

class Base64Decoder implements BodyDecoder {
  #bits = 0;
  #count = 0;
  readonly #output = new Output();

  data(piece: Buffer): Buffer {
    return (piece.length >= NATIVE_MIN_BYTES && this.#native(piece)) || this.#decode(piece);
  }

  /**
   * The common case — lines of the alphabet — decoded by Node (Buffer#write 'base64'),
   * several times faster than the loop below: the sextets held from the last piece go
   * first, whole quanta are decoded at once, and the rest (under four) is held. Node
   * skips what is not in the alphabet and stops at `=`, so it writes fewer octets than
   * whole quanta make exactly when the piece holds anything but alphabet and line
   * breaks: then (undefined) the loop decodes the piece, from the same state.
   */
  #native(piece: Buffer): Buffer | undefined {
    let compact = piece.toString('latin1').replace(LINE_BREAKS, '');
    if (this.#count > 0) {
      let held = '';
      for (let k = this.#count - 1; k >= 0; k--) held += BASE64_ALPHABET[(this.#bits >> (6 * k)) & 63];
      compact = held + compact;
    }
    const whole = compact.length - (compact.length % 4);
    const expected = (whole / 4) * 3;
    const out = this.#output.get(expected + 3);
    const n = whole > 0 ? out.write(compact.slice(0, whole), 0, expected, 'base64') : 0;
    if (n !== expected) return undefined;
    let bits = 0;
    let count = 0;
    for (let i = whole; i < compact.length; i++) {
      const value = BASE64_VALUES[compact.charCodeAt(i)]!;
      if (value < 0) return undefined;
      bits = (bits << 6) | value;
      count++;
    }
    this.#bits = bits;
    this.#count = count;
    return out.subarray(0, n);
  }

  #decode(piece: Buffer): Buffer {
    const out = this.#output.get(Math.floor(((this.#count + piece.length) * 3) / 4) + 3);
    let n = 0;
    let bits = this.#bits;
    let count = this.#count;
    for (let i = 0; i < piece.length; i++) {
      const byte = piece[i]!;
      const value = BASE64_VALUES[byte]!;
      if (value >= 0) {
        bits = (bits << 6) | value;
        if (++count === 4) {
          out[n++] = (bits >> 16) & 0xff;
          out[n++] = (bits >> 8) & 0xff;
          out[n++] = bits & 0xff;
          bits = 0;
          count = 0;
        }
      } else if (byte === 0x3d && count >= 2) {
        // `=` ends a quantum early (RFC 2045 §6.8); decoding goes on after it.
        n = this.#partial(out, n, bits, count);
        bits = 0;
        count = 0;
      }
    }
    this.#bits = bits;
    this.#count = count;
    return out.subarray(0, n);
  }

  #partial(out: Buffer, n: number, bits: number, count: number): number {
    if (count === 2) out[n++] = (bits >> 4) & 0xff;
    if (count === 3) {
      out[n++] = (bits >> 10) & 0xff;
      out[n++] = (bits >> 2) & 0xff;
    }
    return n;
  }

  lineBreak(): Buffer {
    return EMPTY;
  }

  end(): Buffer {
    const out = Buffer.alloc(2);
    const n = this.#partial(out, 0, this.#bits, this.#count);
    this.#bits = 0;
    this.#count = 0;
    return out.subarray(0, n);
  }
}

const HEX = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) table[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    table[0x41 + i] = 10 + i;
    table[0x61 + i] = 10 + i;
  }
  return table;
})();

/** Trailing white space held at most (longer runs are passed on: the line is not QP anyway). */
const MAX_HELD_SPACE = 256;

class QuotedPrintableDecoder implements BodyDecoder {
  /** After `=`: the hex digits seen so far (0, 1), or -1 when not after `=`. */
  #escape = -1;
  #firstHex = 0;
  /** Spaces and tabs not yet passed on: deleted if the line ends (RFC 2045 §6.7 (3)). */
  #space: number[] = [];
  readonly #output = new Output();

  data(piece: Buffer): Buffer {
    const out = this.#output.get(piece.length + this.#space.length + 3);
    let n = 0;
    for (let i = 0; i < piece.length; i++) {
      const byte = piece[i]!;
      if (this.#escape >= 0) {
        // White space after `=` may precede a soft break (§6.7 (3)); hold it with the `=`.
        if (this.#escape === 0 && (byte === 0x20 || byte === 0x09) && this.#space.length < MAX_HELD_SPACE) {
          this.#space.push(byte);
          continue;
        }
        if (this.#escape === 0 && this.#space.length === 0 && HEX[byte]! >= 0) {
          this.#firstHex = byte;
          this.#escape = 1;
          continue;
        }
        if (this.#escape === 1 && HEX[byte]! >= 0) {
          out[n++] = (HEX[this.#firstHex]! << 4) | HEX[byte]!;
          this.#escape = -1;
          continue;
        }
        // A malformed escape: `=`, its digit and the held space pass as they were.
        out[n++] = 0x3d;
        if (this.#escape === 1) out[n++] = this.#firstHex;
        this.#escape = -1;
      }
      if (byte === 0x20 || byte === 0x09) {
        if (this.#space.length < MAX_HELD_SPACE) {
          this.#space.push(byte);
          continue;
        }
      }
      for (const s of this.#space) out[n++] = s;
      this.#space.length = 0;
      if (byte === 0x3d) this.#escape = 0;
      else out[n++] = byte;
    }
    return out.subarray(0, n);
  }

  lineBreak(): Buffer {
    const soft = this.#escape === 0;
    const out = this.#escape === 1 ? Buffer.from([0x3d, this.#firstHex]) : EMPTY;
    this.#escape = -1;
    this.#space.length = 0;
    return soft ? EMPTY : Buffer.concat([out, CRLF]);
  }

  end(): Buffer {
    const out = this.#escape === 1 ? Buffer.from([0x3d, this.#firstHex]) : EMPTY;
    this.#escape = -1;
    this.#space.length = 0;
    return out;
  }
}

class IdentityDecoder implements BodyDecoder {
  data(piece: Buffer): Buffer {
    return piece;
  }
  lineBreak(raw: Buffer): Buffer {
    return raw;
  }
  end(): Buffer {
    return EMPTY;
  }
}

/** Transfer encodings this module decodes; others are passed on as they are (and noted). */
export const KNOWN_TRANSFER_ENCODINGS: ReadonlySet<string> = new Set(['7bit', '8bit', 'binary', 'base64', 'quoted-printable']);

/** The decoder of a (lower-case) Content-Transfer-Encoding; unknown ones pass octets through. */
export function decoderFor(encoding: string): BodyDecoder {
  if (encoding === 'base64') return new Base64Decoder();
  if (encoding === 'quoted-printable') return new QuotedPrintableDecoder();
  return new IdentityDecoder();
}
