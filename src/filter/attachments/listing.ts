// What the 7z and rar readers can tell without decompressing: entry names and whether
// entries (or the whole header) are encrypted.

export interface ListedEntry {
  name: string;
  encrypted: boolean;
  directory: boolean;
}

export type ArchiveListing =
  | {
      ok: true;
      entries: ListedEntry[];
      /** The names could not be read: the header is encrypted, or compressed with a method not read here. */
      namesHidden: 'encrypted' | 'compressed' | undefined;
      /** Some content is encrypted (entries flagged, or an AES coder in a folder). */
      encrypted: boolean;
    }
  | { ok: false; reason: 'malformed' | 'too-many-entries'; detail: string };

/** A structural error while reading a listing (turned into `malformed`). */
export class ListingError extends Error {}

/** Sequential reads of a header held in memory, each checked against its end. */
export class Cursor {
  readonly data: Buffer;
  offset: number;
  readonly end: number;

  constructor(data: Buffer, offset = 0, end = data.length) {
    this.data = data;
    this.offset = offset;
    this.end = end;
  }

  byte(): number {
    if (this.offset >= this.end) throw new ListingError(`header ends at ${this.end}`);
    return this.data[this.offset++]!;
  }

  bytes(length: number): Buffer {
    if (!Number.isSafeInteger(length) || length < 0 || this.offset + length > this.end) throw new ListingError(`${length} octets at ${this.offset} run past ${this.end}`);
    const out = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  uint32(): number {
    return this.bytes(4).readUInt32LE(0);
  }
}
