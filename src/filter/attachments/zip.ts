// A zip reader for inspection: the central directory (PKWARE APPNOTE.TXT 6.3.10:
// §4.3.16 end of central directory record, §4.3.14/§4.3.15 ZIP64 record and locator,
// §4.3.12 central directory header, §4.5.3 ZIP64 extra field, §4.6.9 Info-ZIP Unicode
// Path extra field, §4.4.4 general purpose flags) and, for entries that are archives
// themselves, their data (§4.3.7 local header; methods 0 stored and 8 deflate, RFC 1951).
//
// Every offset and length read from the file is checked against the file before it
// is used; a bad one makes the result `malformed`, never a read outside the source.
// Declared counts are bounded before anything is allocated for them. Data is inflated
// as a stream with its output counted, so a declared size that lies cannot make it
// grow past the caller's limit.
import { constants, createInflateRaw, inflateRawSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SNIFF_LENGTH } from './archive-kind.ts';
import { readPieces, type RandomAccess } from './source.ts';

export interface ZipEntry {
  /**
   * The names the entry goes by: the header's name (UTF-8 when flag bit 11 says so,
   * else CP437, read as latin1 and, when the octets are valid UTF-8, as UTF-8 too, since
   * many writers omit the flag), and the Info-ZIP Unicode Path field's name if any.
   */
  names: string[];
  flags: number;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Offset of the local header in the source (the archive's prefix included). */
  localHeaderOffset: number;
  /** Traditional PKWARE encryption (flag bit 0), strong encryption (bit 6, bit 13) or AES (method 99). */
  encrypted: boolean;
  directory: boolean;
  /** Name length in the central directory (a lower bound of the local header's). */
  nameLength: number;
}

export type ZipDirectory =
  | { ok: true; entries: ZipEntry[]; zip64: boolean; prefix: number }
  | { ok: false; reason: 'not-a-zip' | 'malformed' | 'too-many-entries'; detail: string };

export interface ZipLimits {
  /** Entries read at most; more make the result too-many-entries. */
  maxEntries: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const EOCD_LENGTH = 22;
const MAX_COMMENT = 0xffff;
const CENTRAL_LENGTH = 46;
const LOCAL_LENGTH = 30;
export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;
export const METHOD_AES = 99;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_STRONG = 0x0040;
const FLAG_UTF8 = 0x0800;
const FLAG_MASKED_HEADERS = 0x2000;

class Malformed extends Error {}

/** Reads of a region of the source in cached blocks, each checked against the region. */
class Window {
  readonly #source: RandomAccess;
  readonly #end: number;
  #blockStart = 0;
  #block: Buffer = Buffer.alloc(0);

  constructor(source: RandomAccess, end: number) {
    this.#source = source;
    this.#end = end;
  }

  async bytes(offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.#end) {
      throw new Malformed(`${length} octets at ${offset} lie outside the ${this.#end} octets`);
    }
    if (offset < this.#blockStart || offset + length > this.#blockStart + this.#block.length) {
      this.#blockStart = offset;
      this.#block = await this.#source.read(offset, Math.min(this.#end - offset, Math.max(length, 65_536)));
    }
    return this.#block.subarray(offset - this.#blockStart, offset - this.#blockStart + length);
  }
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Malformed(`${what} ${value} is too large`);
  return Number(value);
}

/** The end records whose comment length reaches exactly to the end of the file (§4.3.16). */
function endRecordCandidates(tail: Buffer): number[] {
  const exact: number[] = [];
  let fitting = -1;
  for (let i = tail.length - EOCD_LENGTH; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== EOCD) continue;
    const commentLength = tail.readUInt16LE(i + 20);
    if (i + EOCD_LENGTH + commentLength === tail.length) exact.push(i);
    else if (fitting < 0 && i + EOCD_LENGTH + commentLength <= tail.length) fitting = i;
    // More than a few exact candidates is a file built to confuse; four readings suffice.
    if (exact.length === 4) break;
  }
  return exact.length > 0 ? exact : fitting >= 0 ? [fitting] : [];
}

interface EndRecord {
  entries: number;
  cdSize: number;
  cdOffset: number;
  /** Where the central directory should end: the ZIP64 record, or the end record. */
  cdEndActual: number;
  zip64: boolean;
}

async function readEndRecord(window: Window, eocd: number): Promise<EndRecord> {
  const record = await window.bytes(eocd, EOCD_LENGTH);
  let entries = record.readUInt16LE(10);
  let cdSize = record.readUInt32LE(12);
  let cdOffset = record.readUInt32LE(16);
  let cdEndActual = eocd;
  let zip64 = false;
  const disk = record.readUInt16LE(4);
  if (disk !== 0 && disk !== 0xffff) throw new Malformed(`a multi-disk archive (disk ${disk})`);
  if (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // §4.3.15: the ZIP64 locator is the 20 octets before the end record.
    if (eocd >= 20 && (await window.bytes(eocd - 20, 4)).readUInt32LE(0) === ZIP64_LOCATOR) {
      const locator = await window.bytes(eocd - 20, 20);
      const recordOffset = safeNumber(locator.readBigUInt64LE(8), 'ZIP64 record offset');
      // The record may be shifted by a prefix like everything else: look where the locator says, then just before it.
      const guesses = [recordOffset, eocd - 20 - 56];
      for (const at of guesses) {
        if (at < 0 || at + 56 > eocd - 20) continue;
        const z = await window.bytes(at, 56);
        if (z.readUInt32LE(0) !== ZIP64_EOCD) continue;
        entries = safeNumber(z.readBigUInt64LE(32), 'entry count');
        cdSize = safeNumber(z.readBigUInt64LE(40), 'central directory size');
        cdOffset = safeNumber(z.readBigUInt64LE(48), 'central directory offset');
        cdEndActual = at;
        zip64 = true;
        break;
      }
    }
  }
  return { entries, cdSize, cdOffset, cdEndActual, zip64 };
}

function decodeName(octets: Buffer, utf8: boolean): string[] {
  if (utf8) return [new TextDecoder('utf-8').decode(octets)];
  const latin1 = octets.toString('latin1');
  try {
    const asUtf8 = new TextDecoder('utf-8', { fatal: true }).decode(octets);
    return asUtf8 === latin1 ? [latin1] : [latin1, asUtf8];
  } catch {
    return [latin1];
  }
}

async function readCentralDirectory(window: Window, end: EndRecord, prefix: number, limits: ZipLimits): Promise<ZipEntry[]> {
  const entries: ZipEntry[] = [];
  const start = end.cdOffset + prefix;
  const stop = start + end.cdSize;
  if (stop > end.cdEndActual) throw new Malformed(`the central directory [${start}, ${stop}) runs past its end record at ${end.cdEndActual}`);
  let offset = start;
  // Entries are read up to the end of the directory whatever the count says: a count
  // that is too small must not hide entries that other readers show.
  while (offset + CENTRAL_LENGTH <= stop) {
    const header = await window.bytes(offset, CENTRAL_LENGTH);
    if (header.readUInt32LE(0) !== CENTRAL) break;
    if (entries.length >= limits.maxEntries) throw new TooManyEntries();
    const flags = header.readUInt16LE(8);
    const method = header.readUInt16LE(10);
    let compressedSize = header.readUInt32LE(20);
    let uncompressedSize = header.readUInt32LE(24);
    const nameLength = header.readUInt16LE(28);
    const extraLength = header.readUInt16LE(30);
    const commentLength = header.readUInt16LE(32);
    let localHeaderOffset = header.readUInt32LE(42);
    const variable = offset + CENTRAL_LENGTH;
    if (variable + nameLength + extraLength + commentLength > stop) throw new Malformed(`central header at ${offset} runs past the directory`);
    const nameOctets = Buffer.from(await window.bytes(variable, nameLength));
    const extra = Buffer.from(await window.bytes(variable + nameLength, extraLength));
    const names = decodeName(nameOctets, (flags & FLAG_UTF8) !== 0);
    let aes = false;
    for (let e = 0; e + 4 <= extra.length; ) {
      const id = extra.readUInt16LE(e);
      const size = extra.readUInt16LE(e + 2);
      const data = extra.subarray(e + 4, Math.min(extra.length, e + 4 + size));
      if (id === 0x0001) {
        // §4.5.3: only the fields whose header value is all ones are present, in this order.
        let d = 0;
        const next = (): number | undefined => {
          if (d + 8 > data.length) return undefined;
          const value = safeNumber(data.readBigUInt64LE(d), 'ZIP64 field');
          d += 8;
          return value;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = next() ?? uncompressedSize;
        if (compressedSize === 0xffffffff) compressedSize = next() ?? compressedSize;
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next() ?? localHeaderOffset;
      } else if (id === 0x7075 && data.length > 5) {
        // §4.6.9: version, CRC-32 of the header name, the UTF-8 name.
        const unicode = new TextDecoder('utf-8').decode(data.subarray(5));
        if (!names.includes(unicode)) names.push(unicode);
      } else if (id === 0x9901) {
        aes = true;
      }
      e += 4 + size;
    }
    const directory = names.every((name) => name.endsWith('/') || name.endsWith('\\')) && uncompressedSize === 0;
    entries.push({
      names,
      flags,
      method,
      compressedSize,
      uncompressedSize,
      localHeaderOffset: localHeaderOffset + prefix,
      encrypted: (flags & (FLAG_ENCRYPTED | FLAG_STRONG | FLAG_MASKED_HEADERS)) !== 0 || method === METHOD_AES || aes,
      directory,
      nameLength,
    });
    offset = variable + nameLength + extraLength + commentLength;
  }
  return entries;
}

class TooManyEntries extends Error {}

/**
 * The entries of a zip file. Several end records whose comments reach the end of the
 * file are all read (a fake one in the comment of another is how a file shows one
 * list to one tool and another to the next), and their entries joined.
 */
export async function readZipDirectory(source: RandomAccess, limits: ZipLimits): Promise<ZipDirectory> {
  const size = source.size;
  if (size < EOCD_LENGTH) return { ok: false, reason: 'not-a-zip', detail: `${size} octets are too few for an end record` };
  const tailStart = Math.max(0, size - (EOCD_LENGTH + MAX_COMMENT));
  const tail = await source.read(tailStart, size - tailStart);
  const candidates = endRecordCandidates(tail);
  if (candidates.length === 0) return { ok: false, reason: 'not-a-zip', detail: 'no end of central directory record' };
  const window = new Window(source, size);
  const entries: ZipEntry[] = [];
  const seen = new Set<string>();
  let zip64 = false;
  let prefix = 0;
  let firstError: string | undefined;
  for (const candidate of candidates) {
    try {
      const end = await readEndRecord(window, tailStart + candidate);
      if (end.entries > limits.maxEntries) throw new TooManyEntries();
      // Octets before the archive (a self-extractor, a prepended file) shift every offset (§4.3.6 allows none; readers cope).
      const shifted = end.cdEndActual - (end.cdOffset + end.cdSize);
      if (shifted < 0) throw new Malformed(`the central directory [${end.cdOffset}, +${end.cdSize}) overlaps its end record`);
      let found = shifted;
      if (end.cdSize >= 4 && shifted > 0 && (await window.bytes(end.cdOffset + shifted, 4)).readUInt32LE(0) !== CENTRAL) {
        if (end.cdOffset + 4 <= size && (await window.bytes(end.cdOffset, 4)).readUInt32LE(0) === CENTRAL) found = 0;
      }
      const read = await readCentralDirectory(window, end, found, { maxEntries: limits.maxEntries - entries.length });
      for (const entry of read) {
        const key = `${entry.localHeaderOffset}\0${entry.names.join('\0')}`;
        if (seen.has(key)) continue;
        seen.add(key);
        entries.push(entry);
      }
      zip64 ||= end.zip64;
      prefix = found;
    } catch (error) {
      if (error instanceof TooManyEntries) return { ok: false, reason: 'too-many-entries', detail: `more than ${limits.maxEntries} entries` };
      if (!(error instanceof Malformed)) throw error;
      firstError ??= error.message;
    }
  }
  if (firstError !== undefined && entries.length === 0) return { ok: false, reason: 'malformed', detail: firstError };
  return { ok: true, entries, zip64, prefix };
}

export type EntryData =
  | { ok: true; size: number }
  | { ok: false; reason: 'encrypted' | 'unsupported-method' | 'malformed' | 'exceeds-declared' | 'exceeds-limit'; detail: string };

/** Where an entry's data lies: after its local header, checked against the source. */
async function dataRange(source: RandomAccess, entry: ZipEntry): Promise<{ start: number; end: number } | string> {
  const at = entry.localHeaderOffset;
  if (at < 0 || at + LOCAL_LENGTH > source.size) return `local header at ${at} is outside the file`;
  const header = await source.read(at, LOCAL_LENGTH);
  if (header.readUInt32LE(0) !== LOCAL) return `no local header at ${at}`;
  const start = at + LOCAL_LENGTH + header.readUInt16LE(26) + header.readUInt16LE(28);
  const end = start + entry.compressedSize;
  if (end > source.size) return `data [${start}, ${end}) runs past the file`;
  return { start, end };
}

class StopInflating extends Error {
  readonly reason: 'exceeds-declared' | 'exceeds-limit';
  constructor(reason: 'exceeds-declared' | 'exceeds-limit') {
    super(reason);
    this.reason = reason;
  }
}

/**
 * An entry's data, passed to `sink` piece by piece. Inflating stops once it would
 * pass the entry's declared size (a lying header) or `limit` octets.
 */
export async function readZipEntry(source: RandomAccess, entry: ZipEntry, limit: number, sink: (piece: Buffer) => void | Promise<void>): Promise<EntryData> {
  if (entry.encrypted) return { ok: false, reason: 'encrypted', detail: 'the entry is encrypted' };
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATE) return { ok: false, reason: 'unsupported-method', detail: `method ${entry.method}` };
  const range = await dataRange(source, entry);
  if (typeof range === 'string') return { ok: false, reason: 'malformed', detail: range };
  let produced = 0;
  const take = async (piece: Buffer) => {
    produced += piece.length;
    if (produced > entry.uncompressedSize) throw new StopInflating('exceeds-declared');
    if (produced > limit) throw new StopInflating('exceeds-limit');
    await sink(piece);
  };
  try {
    if (entry.method === METHOD_STORED) {
      for await (const piece of readPieces(source, range.start, range.end)) await take(piece);
    } else {
      await pipeline(Readable.from(readPieces(source, range.start, range.end)), createInflateRaw(), async (inflated: AsyncIterable<Buffer>) => {
        for await (const piece of inflated) await take(piece);
      });
    }
  } catch (error) {
    if (error instanceof StopInflating) return { ok: false, reason: error.reason, detail: `more than ${error.reason === 'exceeds-declared' ? entry.uncompressedSize : limit} octets` };
    if (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).code!.startsWith('Z_')) {
      return { ok: false, reason: 'malformed', detail: error.message };
    }
    throw error;
  }
  return { ok: true, size: produced };
}

/** Compressed octets inflated to sniff an entry: at most ~1032× as many come out (RFC 1951's longest match per bit). */
const SNIFF_INPUT = 512;

/** The first octets (up to SNIFF_LENGTH) of an entry's data, or undefined when they cannot be read. */
export async function sniffZipEntry(source: RandomAccess, entry: ZipEntry): Promise<Buffer | undefined> {
  if (entry.encrypted || entry.compressedSize === 0) return undefined;
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATE) return undefined;
  const range = await dataRange(source, entry);
  if (typeof range === 'string') return undefined;
  const input = await source.read(range.start, Math.min(range.end - range.start, entry.method === METHOD_STORED ? SNIFF_LENGTH : SNIFF_INPUT));
  if (entry.method === METHOD_STORED) return input;
  try {
    const out = inflateRawSync(input, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 1 << 20 });
    return out.subarray(0, SNIFF_LENGTH);
  } catch {
    return undefined;
  }
}
