// Whether a sender address is one of a user's own (SPEC: the envelope sender and the
// header From of submitted mail), +tag subaddresses included.
import { AddressError, parseMailAddress } from './address.ts';

/** Whether `address` (as the client wrote it) is one of `owned`, or a +tag subaddress of one. */
export function isOwned(owned: ReadonlySet<string>, address: string): boolean {
  let normalised: string;
  try {
    normalised = parseMailAddress(address).address;
  } catch (err) {
    if (err instanceof AddressError) return false;
    throw err;
  }
  if (owned.has(normalised)) return true;
  const at = normalised.lastIndexOf('@');
  const plus = normalised.indexOf('+');
  return plus > 0 && plus < at && owned.has(normalised.slice(0, plus) + normalised.slice(at));
}
