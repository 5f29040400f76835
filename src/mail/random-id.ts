// Random octets for ids made by the thousand (queue ids, message file names, UIDLs,
// Message-IDs), taken from a pool that the system's CSPRNG refills 4 KB at a time: one randomBytes()
// call per id cost some 10 µs each, 3 % of the CPU per accepted message. The ids name
// things; none of them is a secret (queue ids appear in Received headers), but each is
// unpredictable and never repeats: the pool's octets are handed out once.
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/** `length` (at most 4,096) fresh random octets, copied out of the pool. */
export function randomOctets(length: number): Buffer {
  if (!(length >= 1 && length <= POOL_BYTES)) throw new RangeError(`randomOctets(${length}): 1 to ${POOL_BYTES} octets`);
  if (offset + length > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES)); // a new pool: octets already handed out stay theirs
    offset = 0;
  }
  const octets = Buffer.from(pool.subarray(offset, offset + length));
  offset += length;
  return octets;
}

/** `length` random octets as lower-case hex (twice as many characters). */
export function randomHex(length: number): string {
  return randomOctets(length).toString('hex');
}
