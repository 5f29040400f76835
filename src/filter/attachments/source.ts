// Random access to the bytes of an attachment or of an archive entry: in memory or in
// a scratch file. Archive readers ask for ranges they have bounds-checked; a read
// outside the source is a defect of the reader and throws.
import type { FileHandle } from 'node:fs/promises';

export interface RandomAccess {
  readonly size: number;
  /** The octets [offset, offset + length); throws OutOfBoundsRead outside [0, size). */
  read(offset: number, length: number): Promise<Buffer>;
}

/** A read outside the source: a reader forgot a bounds check. */
export class OutOfBoundsRead extends RangeError {
  override name = 'OutOfBoundsRead';
}

function checkRange(size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new OutOfBoundsRead(`read of ${length} octets at ${offset} outside a source of ${size}`);
  }
}

export function bufferSource(data: Buffer): RandomAccess {
  return {
    size: data.length,
    read(offset, length) {
      checkRange(data.length, offset, length);
      return Promise.resolve(data.subarray(offset, offset + length));
    },
  };
}

/** The first `size` octets of an open file (the caller closes it). */
export function fileSource(handle: FileHandle, size: number): RandomAccess {
  return {
    size,
    async read(offset, length) {
      checkRange(size, offset, length);
      const buffer = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
        if (bytesRead === 0) throw new OutOfBoundsRead(`file ended at ${offset + done} of ${size}`);
        done += bytesRead;
      }
      return buffer;
    },
  };
}

/** The source's octets [start, end) in pieces of at most `piece` octets. */
export async function* readPieces(source: RandomAccess, start = 0, end = source.size, piece = 65_536): AsyncGenerator<Buffer> {
  for (let offset = start; offset < end; offset += piece) yield await source.read(offset, Math.min(piece, end - offset));
}
