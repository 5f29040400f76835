// RAR archives: entry names from the block headers, which are stored plain unless the
// archive encrypts its headers (RAR 4.x: the main header's MHD_PASSWORD flag; RAR 5.0:
// an archive encryption header). Formats per RARLAB's "RAR 5.0 archive format" and the
// RAR 4.x technote (TechNote.txt).
import { Cursor, ListingError, type ArchiveListing, type ListedEntry } from './listing.ts';
import type { RandomAccess } from './source.ts';

const RAR4 = Buffer.from('Rar!\x1a\x07\x00', 'latin1');
const RAR5 = Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1');
/** Block headers read at most: RAR 5.0 caps a header at 2 MB. */
const MAX_HEADER = 2 * 1024 * 1024;

/** RAR 5.0 vint: 7 bits per octet, low first, top bit set on all but the last. */
function vint(c: Cursor): number {
  let value = 0;
  for (let i = 0; i < 10; i++) {
    const octet = c.byte();
    value += (octet & 0x7f) * 2 ** (7 * i);
    if ((octet & 0x80) === 0) {
      if (!Number.isSafeInteger(value)) throw new ListingError('vint too large');
      return value;
    }
  }
  throw new ListingError('vint longer than 10 octets');
}

async function readAt(source: RandomAccess, offset: number, length: number): Promise<Buffer> {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > source.size) throw new ListingError(`block at ${offset} runs past the file`);
  return source.read(offset, length);
}

async function listRar5(source: RandomAccess, maxEntries: number): Promise<ArchiveListing> {
  const entries: ListedEntry[] = [];
  let offset = RAR5.length;
  while (offset < source.size) {
    // CRC32, then the header size as a vint (at most 3 octets for 2 MB).
    const start = new Cursor(await readAt(source, offset, Math.min(source.size - offset, 4 + 3)));
    start.uint32();
    const headerSize = vint(start);
    if (headerSize === 0 || headerSize > MAX_HEADER) throw new ListingError(`header size ${headerSize}`);
    const headerStart = offset + start.offset;
    const c = new Cursor(await readAt(source, headerStart, headerSize));
    const type = vint(c);
    const flags = vint(c);
    const extraSize = flags & 0x01 ? vint(c) : 0;
    const dataSize = flags & 0x02 ? vint(c) : 0;
    if (type === 4) return { ok: true, entries, namesHidden: 'encrypted', encrypted: true };
    if (type === 5) break;
    if (type === 2) {
      if (entries.length >= maxEntries) return { ok: false, reason: 'too-many-entries', detail: `more than ${maxEntries} entries` };
      const fileFlags = vint(c);
      vint(c); // unpacked size
      vint(c); // attributes
      if (fileFlags & 0x02) c.bytes(4);
      if (fileFlags & 0x04) c.bytes(4);
      vint(c); // compression information
      vint(c); // host OS
      const name = c.bytes(vint(c)).toString('utf8');
      let encrypted = false;
      if (extraSize > 0 && extraSize <= headerSize) {
        const extra = new Cursor(c.data, headerSize - extraSize, headerSize);
        while (extra.offset < extra.end) {
          const size = vint(extra);
          const recordEnd = extra.offset + size;
          // A record that runs past the area still says what it is.
          if (vint(extra) === 0x01) encrypted = true;
          if (size === 0 || recordEnd > extra.end) break;
          extra.offset = recordEnd;
        }
      }
      entries.push({ name, encrypted, directory: (fileFlags & 0x01) !== 0 });
    }
    offset = headerStart + headerSize + dataSize;
  }
  return { ok: true, entries, namesHidden: undefined, encrypted: entries.some((e) => e.encrypted) };
}

async function listRar4(source: RandomAccess, maxEntries: number): Promise<ArchiveListing> {
  const entries: ListedEntry[] = [];
  let offset = RAR4.length;
  while (offset + 7 <= source.size) {
    const base = new Cursor(await readAt(source, offset, 7));
    base.bytes(2); // HEAD_CRC
    const type = base.byte();
    const flags = base.bytes(2).readUInt16LE(0);
    const headSize = base.bytes(2).readUInt16LE(0);
    if (headSize < 7) throw new ListingError(`block header of ${headSize} octets at ${offset}`);
    const c = new Cursor(await readAt(source, offset, headSize), 7);
    // LONG_BLOCK: ADD_SIZE follows; in file and service headers it is PACK_SIZE, always present.
    const file = type === 0x74 || type === 0x7a;
    let dataSize = flags & 0x8000 || file ? c.uint32() : 0;
    if (type === 0x73 && flags & 0x0080) return { ok: true, entries, namesHidden: 'encrypted', encrypted: true };
    if (type === 0x7b) break;
    if (file) {
      c.bytes(4 + 1 + 4 + 4 + 1 + 1); // UNP_SIZE HOST_OS FILE_CRC FTIME UNP_VER METHOD
      const nameSize = c.bytes(2).readUInt16LE(0);
      c.bytes(4); // ATTR
      if (flags & 0x0100) {
        dataSize += c.uint32() * 2 ** 32;
        c.uint32();
      }
      const raw = c.bytes(nameSize);
      // LHD_UNICODE: the OEM name, a NUL, then the Unicode name in RAR's own encoding.
      const nul = raw.indexOf(0);
      const name = (flags & 0x0200 && nul >= 0 ? raw.subarray(0, nul) : raw).toString('latin1');
      if (type === 0x74) {
        if (entries.length >= maxEntries) return { ok: false, reason: 'too-many-entries', detail: `more than ${maxEntries} entries` };
        entries.push({ name, encrypted: (flags & 0x0004) !== 0, directory: (flags & 0x00e0) === 0x00e0 });
      }
    }
    offset += headSize + dataSize;
  }
  return { ok: true, entries, namesHidden: undefined, encrypted: entries.some((e) => e.encrypted) };
}

/** The entries of a RAR 4.x or 5.0 archive. */
export async function listRar(source: RandomAccess, limits: { maxEntries: number }): Promise<ArchiveListing> {
  try {
    const head = await readAt(source, 0, Math.min(source.size, 8));
    if (head.equals(RAR5)) return await listRar5(source, limits.maxEntries);
    if (head.subarray(0, 7).equals(RAR4)) return await listRar4(source, limits.maxEntries);
    throw new ListingError('no RAR signature');
  } catch (error) {
    if (error instanceof ListingError) return { ok: false, reason: 'malformed', detail: error.message };
    throw error;
  }
}
