// gzip members (RFC 1952): the original file name of the header (§2.3.1 FNAME, ISO
// 8859-1, zero-terminated) and the inflated content, counted as it comes.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { readPieces, type RandomAccess } from './source.ts';

const FEXTRA = 0x04;
const FNAME = 0x08;

/** The FNAME of a gzip header, or undefined when it has none or the header is cut short. */
export function gzipFileName(head: Buffer): string | undefined {
  if (head.length < 10 || head[0] !== 0x1f || head[1] !== 0x8b) return undefined;
  const flags = head[3]!;
  if ((flags & FNAME) === 0) return undefined;
  let offset = 10;
  if ((flags & FEXTRA) !== 0) {
    if (offset + 2 > head.length) return undefined;
    offset += 2 + head.readUInt16LE(offset);
  }
  const nul = head.indexOf(0, offset);
  if (offset >= head.length || nul < 0) return undefined;
  return head.toString('latin1', offset, nul);
}

export type GunzipResult = { ok: true; size: number } | { ok: false; reason: 'malformed' | 'exceeds-limit'; detail: string };

class Stop extends Error {}

/** The inflated content, piece by piece, stopping past `limit` octets. */
export async function gunzip(source: RandomAccess, limit: number, sink: (piece: Buffer) => void | Promise<void>): Promise<GunzipResult> {
  let produced = 0;
  try {
    await pipeline(Readable.from(readPieces(source)), createGunzip(), async (inflated: AsyncIterable<Buffer>) => {
      for await (const piece of inflated) {
        produced += piece.length;
        if (produced > limit) throw new Stop();
        await sink(piece);
      }
    });
  } catch (error) {
    if (error instanceof Stop) return { ok: false, reason: 'exceeds-limit', detail: `more than ${limit} octets` };
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_')) return { ok: false, reason: 'malformed', detail: (error as Error).message };
    throw error;
  }
  return { ok: true, size: produced };
}
