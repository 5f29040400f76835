// 7z archives (7-Zip's 7zFormat.txt): the signature header points at the header,
// which is either plain (kHeader: entry names in FilesInfo, UTF-16LE) or encoded
// (kEncodedHeader: packed with LZMA, which is not decoded here, or encrypted with AES
// when the archive was made with -mhe). Coders in the folders say whether content is
// encrypted (AES-256 + SHA-256 is coder 06F10701).
import { Cursor, ListingError, type ArchiveListing, type ListedEntry } from './listing.ts';
import type { RandomAccess } from './source.ts';

const SIGNATURE_HEADER = 32;
/** Headers larger than this are not read (a real one for 10 000 files is well under it). */
const MAX_HEADER = 16 * 1024 * 1024;
const MAX_COUNT = 100_000;
const AES = Buffer.from([0x06, 0xf1, 0x07, 0x01]);

const K = {
  end: 0x00, header: 0x01, archiveProperties: 0x02, additionalStreamsInfo: 0x03, mainStreamsInfo: 0x04, filesInfo: 0x05,
  packInfo: 0x06, unpackInfo: 0x07, subStreamsInfo: 0x08, size: 0x09, crc: 0x0a, folder: 0x0b, codersUnpackSize: 0x0c,
  numUnpackStream: 0x0d, emptyStream: 0x0e, name: 0x11, encodedHeader: 0x17,
} as const;

/** 7z's UINT64: the first octet's leading one bits say how many octets follow (7zFormat.txt "Notes"). */
function number(c: Cursor): number {
  const first = c.byte();
  let mask = 0x80;
  let value = 0;
  for (let i = 0; i < 8; i++) {
    if ((first & mask) === 0) return value + (first & (mask - 1)) * 2 ** (8 * i);
    value += c.byte() * 2 ** (8 * i);
    mask >>= 1;
  }
  if (!Number.isSafeInteger(value)) throw new ListingError('number too large');
  return value;
}

function count(c: Cursor, what: string): number {
  const n = number(c);
  if (n > MAX_COUNT) throw new ListingError(`${n} ${what}`);
  return n;
}

/** Digests: all-defined octet or a bit vector, then a CRC per defined item. Returns which are defined. */
function digests(c: Cursor, n: number): boolean[] {
  const all = c.byte();
  const defined: boolean[] = [];
  if (all !== 0) defined.push(...Array<boolean>(n).fill(true));
  else {
    const bits = c.bytes(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) defined.push((bits[i >> 3]! & (0x80 >> (i & 7))) !== 0);
  }
  c.bytes(4 * defined.filter(Boolean).length);
  return defined;
}

interface Streams {
  coders: Buffer[];
}

function folder(c: Cursor, coders: Buffer[]): number {
  const numCoders = count(c, 'coders');
  let totalIn = 0;
  let totalOut = 0;
  for (let i = 0; i < numCoders; i++) {
    const flag = c.byte();
    if ((flag & 0x80) !== 0) throw new ListingError('alternative coder methods are not supported');
    coders.push(Buffer.from(c.bytes(flag & 0x0f)));
    const complex = (flag & 0x10) !== 0;
    totalIn += complex ? count(c, 'in streams') : 1;
    totalOut += complex ? count(c, 'out streams') : 1;
    if ((flag & 0x20) !== 0) c.bytes(number(c));
  }
  const bindPairs = totalOut - 1;
  if (bindPairs < 0 || totalIn < bindPairs) throw new ListingError('bad bind pairs');
  for (let i = 0; i < bindPairs; i++) {
    number(c);
    number(c);
  }
  const packed = totalIn - bindPairs;
  if (packed > 1) for (let i = 0; i < packed; i++) number(c);
  return totalOut;
}

function streamsInfo(c: Cursor): Streams {
  const coders: Buffer[] = [];
  let outs: number[] = [];
  let folderCrc: boolean[] = [];
  for (;;) {
    const id = c.byte();
    if (id === K.end) return { coders };
    if (id === K.packInfo) {
      number(c);
      const streams = count(c, 'pack streams');
      for (;;) {
        const sub = c.byte();
        if (sub === K.end) break;
        if (sub === K.size) for (let i = 0; i < streams; i++) number(c);
        else if (sub === K.crc) digests(c, streams);
        else throw new ListingError(`property ${sub} in PackInfo`);
      }
    } else if (id === K.unpackInfo) {
      if (c.byte() !== K.folder) throw new ListingError('UnpackInfo without folders');
      const folders = count(c, 'folders');
      if (c.byte() !== 0) throw new ListingError('external folders are not supported');
      outs = [];
      for (let i = 0; i < folders; i++) outs.push(folder(c, coders));
      if (c.byte() !== K.codersUnpackSize) throw new ListingError('no unpack sizes');
      for (const n of outs) for (let i = 0; i < n; i++) number(c);
      folderCrc = Array<boolean>(folders).fill(false);
      for (;;) {
        const sub = c.byte();
        if (sub === K.end) break;
        if (sub === K.crc) folderCrc = digests(c, folders);
        else throw new ListingError(`property ${sub} in UnpackInfo`);
      }
    } else if (id === K.subStreamsInfo) {
      let perFolder = outs.map(() => 1);
      for (;;) {
        const sub = c.byte();
        if (sub === K.end) break;
        if (sub === K.numUnpackStream) perFolder = outs.map(() => count(c, 'substreams'));
        else if (sub === K.size) for (const n of perFolder) for (let i = 1; i < n; i++) number(c);
        else if (sub === K.crc) {
          const unknown = perFolder.reduce((sum, n, f) => sum + (n === 1 && folderCrc[f] ? 0 : n), 0);
          digests(c, unknown);
        } else throw new ListingError(`property ${sub} in SubStreamsInfo`);
      }
    } else {
      throw new ListingError(`property ${id} in StreamsInfo`);
    }
  }
}

function names(data: Buffer): string[] {
  if (data[0] !== 0) throw new ListingError('external names are not supported');
  const out: string[] = [];
  let start = 1;
  for (let i = 1; i + 1 < data.length; i += 2) {
    if (data[i] === 0 && data[i + 1] === 0) {
      out.push(data.toString('utf16le', start, i));
      start = i + 2;
    }
  }
  return out;
}

/** The entries of a 7z archive, as far as its header can be read without LZMA. */
export async function listSevenZip(source: RandomAccess, limits: { maxEntries: number }): Promise<ArchiveListing> {
  try {
    if (source.size < SIGNATURE_HEADER) throw new ListingError('shorter than the signature header');
    const start = await source.read(0, SIGNATURE_HEADER);
    const offset = Number(start.readBigUInt64LE(12));
    const size = Number(start.readBigUInt64LE(20));
    if (size === 0) return { ok: true, entries: [], namesHidden: undefined, encrypted: false };
    if (!Number.isSafeInteger(offset + size) || SIGNATURE_HEADER + offset + size > source.size) throw new ListingError('the header lies outside the file');
    if (size > MAX_HEADER) throw new ListingError(`a header of ${size} octets`);
    const c = new Cursor(await source.read(SIGNATURE_HEADER + offset, size));
    const kind = c.byte();
    if (kind === K.encodedHeader) {
      const { coders } = streamsInfo(c);
      const encrypted = coders.some((id) => id.equals(AES));
      return { ok: true, entries: [], namesHidden: encrypted ? 'encrypted' : 'compressed', encrypted };
    }
    if (kind !== K.header) throw new ListingError(`header type ${kind}`);
    let encrypted = false;
    const entries: ListedEntry[] = [];
    for (;;) {
      const id = c.byte();
      if (id === K.end) break;
      if (id === K.archiveProperties) {
        for (let type = c.byte(); type !== 0; type = c.byte()) c.bytes(number(c));
      } else if (id === K.additionalStreamsInfo || id === K.mainStreamsInfo) {
        encrypted ||= streamsInfo(c).coders.some((coder) => coder.equals(AES));
      } else if (id === K.filesInfo) {
        const files = number(c);
        if (files > limits.maxEntries) return { ok: false, reason: 'too-many-entries', detail: `${files} entries` };
        let empty: boolean[] = [];
        for (;;) {
          const type = number(c);
          if (type === K.end) break;
          const data = c.bytes(number(c));
          if (type === K.name) entries.push(...names(data).map((name) => ({ name, encrypted, directory: false })));
          else if (type === K.emptyStream) empty = [...Array(files).keys()].map((i) => (data[i >> 3]! & (0x80 >> (i & 7))) !== 0);
        }
        // An empty stream is a directory or an empty file; neither holds code, but the name still counts.
        entries.forEach((entry, i) => (entry.directory = (empty[i] ?? false) && entry.name.endsWith('/')));
      } else {
        throw new ListingError(`property ${id} in Header`);
      }
    }
    for (const entry of entries) entry.encrypted = encrypted;
    return { ok: true, entries, namesHidden: undefined, encrypted };
  } catch (error) {
    if (error instanceof ListingError) return { ok: false, reason: 'malformed', detail: error.message };
    throw error;
  }
}
