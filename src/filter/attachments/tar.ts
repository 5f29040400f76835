// A tar reader fed in pieces (POSIX.1-2017 pax/ustar, "pax" §Header Block; GNU tar's
// 'L'/'K' long names and base-256 sizes): the names of the entries, and the data of
// the ones the caller asks for. 512-octet headers are checked by their checksum; a bad
// one ends the archive as malformed. Long-name and pax records are kept only up to
// MAX_META octets.

export interface TarEntry {
  name: string;
  /** The typeflag ('0' regular, '5' directory, '2' symlink…). */
  type: string;
  size: number;
}

export type TarResult = { ok: true; entries: number } | { ok: false; reason: 'malformed' | 'too-many-entries'; detail: string };

const BLOCK = 512;
const MAX_META = 65_536;

/** Octal digits (NUL- or space-terminated), or GNU's base-256 when the first octet has its top bit. */
function parseSize(field: Buffer): number | undefined {
  if ((field[0]! & 0x80) !== 0) {
    let value = 0n;
    for (let i = 1; i < field.length; i++) value = (value << 8n) | BigInt(field[i]!);
    if ((field[0]! & 0x40) !== 0 || value > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    return Number(value);
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/u, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/u.test(text)) return undefined;
  return parseInt(text, 8);
}

function cString(field: Buffer): string {
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? field.length : nul).toString('utf8');
}

/** The header checksum holds, read as unsigned or (old writers) signed octets. */
function checksumHolds(header: Buffer): boolean {
  const stored = parseSize(header.subarray(148, 156));
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const octet = i >= 148 && i < 156 ? 0x20 : header[i]!;
    unsigned += octet;
    signed += octet > 127 ? octet - 256 : octet;
  }
  return stored === unsigned || stored === signed;
}

/** A pax extended header's `path` record (records are "LENGTH key=value\n"). */
function paxPath(data: Buffer): string | undefined {
  let offset = 0;
  let path: string | undefined;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number(data.toString('latin1', offset, space));
    if (!Number.isSafeInteger(length) || length <= space - offset || offset + length > data.length) break;
    const record = data.toString('utf8', space + 1, offset + length - 1);
    const equals = record.indexOf('=');
    if (equals > 0 && record.slice(0, equals) === 'path') path = record.slice(equals + 1);
    offset += length;
  }
  return path;
}

export class TarReader {
  readonly #onEntry: (entry: TarEntry) => ((piece: Buffer) => void) | undefined;
  readonly #maxEntries: number;
  #header = Buffer.alloc(BLOCK);
  #headerLength = 0;
  /** Data octets of the current entry still to come, then padding to the block. */
  #remaining = 0;
  #padding = 0;
  #sink: ((piece: Buffer) => void) | undefined;
  #meta: { kind: 'long-name' | 'pax' | 'skip'; chunks: Buffer[]; length: number } | undefined;
  #longName: string | undefined;
  #paxName: string | undefined;
  #entries = 0;
  #result: TarResult | undefined;

  /** `onEntry` returns where the entry's data should go, or undefined to skip it. */
  constructor(onEntry: (entry: TarEntry) => ((piece: Buffer) => void) | undefined, limits: { maxEntries: number }) {
    this.#onEntry = onEntry;
    this.#maxEntries = limits.maxEntries;
  }

  /** Undefined while reading; set once the archive ended, failed or hit a limit. */
  get result(): TarResult | undefined {
    return this.#result;
  }

  write(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && !this.#result) {
      if (this.#remaining > 0) {
        const piece = chunk.subarray(i, i + Math.min(this.#remaining, chunk.length - i));
        this.#remaining -= piece.length;
        i += piece.length;
        if (this.#meta) {
          if (this.#meta.length + piece.length <= MAX_META) this.#meta.chunks.push(Buffer.from(piece));
          this.#meta.length += piece.length;
        } else {
          this.#sink?.(piece);
        }
        if (this.#remaining === 0) this.#entryDone();
        continue;
      }
      if (this.#padding > 0) {
        const skip = Math.min(this.#padding, chunk.length - i);
        this.#padding -= skip;
        i += skip;
        continue;
      }
      const take = Math.min(BLOCK - this.#headerLength, chunk.length - i);
      chunk.copy(this.#header, this.#headerLength, i, i + take);
      this.#headerLength += take;
      i += take;
      if (this.#headerLength === BLOCK) {
        this.#headerLength = 0;
        this.#readHeader(this.#header);
      }
    }
  }

  /** The end of the input. */
  end(): TarResult {
    if (this.#result) return this.#result;
    if (this.#remaining > 0 || this.#headerLength > 0) return (this.#result = { ok: false, reason: 'malformed', detail: 'the archive is cut short' });
    return (this.#result = { ok: true, entries: this.#entries });
  }

  #readHeader(header: Buffer): void {
    if (header.every((octet) => octet === 0)) {
      this.#result = { ok: true, entries: this.#entries };
      return;
    }
    if (!checksumHolds(header)) {
      this.#result = { ok: false, reason: 'malformed', detail: `bad header checksum after ${this.#entries} entries` };
      return;
    }
    const size = parseSize(header.subarray(124, 136));
    if (size === undefined) {
      this.#result = { ok: false, reason: 'malformed', detail: 'bad size field' };
      return;
    }
    const type = String.fromCharCode(header[156]!) === '\0' ? '0' : String.fromCharCode(header[156]!);
    this.#remaining = size;
    this.#padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.#sink = undefined;
    this.#meta = undefined;
    if (type === 'L' || type === 'x') {
      this.#meta = { kind: type === 'L' ? 'long-name' : 'pax', chunks: [], length: 0 };
    } else if (type === 'K' || type === 'g') {
      this.#meta = { kind: 'skip', chunks: [], length: 0 };
    } else {
      if (++this.#entries > this.#maxEntries) {
        this.#result = { ok: false, reason: 'too-many-entries', detail: `more than ${this.#maxEntries} entries` };
        return;
      }
      const magic = header.toString('latin1', 257, 263);
      const prefix = magic === 'ustar\0' ? cString(header.subarray(345, 500)) : '';
      const own = cString(header.subarray(0, 100));
      const name = this.#paxName ?? this.#longName ?? (prefix ? `${prefix}/${own}` : own);
      this.#paxName = undefined;
      this.#longName = undefined;
      this.#sink = this.#onEntry({ name, type, size });
    }
    if (size === 0) this.#entryDone();
  }

  #entryDone(): void {
    const meta = this.#meta;
    this.#meta = undefined;
    this.#sink = undefined;
    if (!meta || meta.kind === 'skip') return;
    const data = Buffer.concat(meta.chunks);
    if (meta.kind === 'long-name') this.#longName = cString(data);
    else this.#paxName = paxPath(data) ?? this.#paxName;
  }
}
