// Which sender addresses an authenticated user may use (SPEC: the envelope sender and
// the header From must be one of the user's own addresses or aliases): the user's
// address, every alias that delivers to the user (directly or through other aliases),
// and the subaddresses (+tag) of those.
import type { AccountStore, UserRecord } from '../store/accounts.ts';
import { isOwned } from '../mail/owned.ts';

export { isOwned };

const MAX_ALIAS_DEPTH = 10;

export async function ownedAddresses(accounts: Pick<AccountStore, 'aliasesTargeting'>, user: UserRecord): Promise<Set<string>> {
  const owned = new Set([user.address]);
  let frontier = [user.address];
  for (let depth = 0; depth < MAX_ALIAS_DEPTH && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const address of frontier) {
      for (const alias of await accounts.aliasesTargeting(address)) {
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

