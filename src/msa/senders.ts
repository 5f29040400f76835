// Which sender addresses an authenticated user may use (SPEC: the envelope sender and
// the header From must be one of the user's own addresses or aliases): the user's
// address, every alias that delivers to the user (directly or through other aliases),
// and the subaddresses (+tag) of those.
import { AddressError, parseMailAddress } from '../mail/address.ts';
import type { AccountStore, UserRecord } from '../store/sqlite/accounts.ts';

const MAX_ALIAS_DEPTH = 10;

export function ownedAddresses(accounts: AccountStore, user: UserRecord): Set<string> {
  const owned = new Set([user.address]);
  let frontier = [user.address];
  for (let depth = 0; depth < MAX_ALIAS_DEPTH && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const address of frontier) {
      for (const alias of accounts.aliasesTargeting(address)) {
        if (!owned.has(alias)) {
          owned.add(alias);
          next.push(alias);
        }
      }
    }
    frontier = next;
  }
  return owned;
}

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
