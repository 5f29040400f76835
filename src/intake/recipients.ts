// Who receives mail sent to a local address: a user, or the users and remote
// addresses an alias leads to (aliases may point to aliases). Subaddresses
// (user+tag@domain) reach the user when no account or alias has the full name.
import type { AccountStore } from '../store/accounts.ts';

/** The account lookups recipient resolution needs. */
export type RecipientLookups = Pick<AccountStore, 'getUser' | 'getAlias' | 'isLocalDomain'>;
/** RCPT's lookups besides resolution: pending role aliases, the primary domain (RFC 5321 §4.5.1). */
export type RcptLookups = RecipientLookups & Pick<AccountStore, 'pendingAlias' | 'primaryDomain'>;

/** Alias chains deeper than this are configuration loops or mistakes. */
const MAX_ALIAS_DEPTH = 10;
const SUBADDRESS_SEPARATOR = '+';

export interface LocalRecipient {
  /** The address as resolved (after any subaddress was removed). */
  address: string;
  /** Users whose INBOX gets a copy; each once. */
  userIds: number[];
  /** Forwarding targets outside the local domains, for the outbound queue. */
  remote: string[];
}

/** Resolves a normalised local address; undefined when nobody receives its mail. */
export async function resolveLocalRecipient(accounts: RecipientLookups, address: string): Promise<LocalRecipient | undefined> {
  const exact = await expand(accounts, address);
  if (exact) return exact;
  const [local, domain] = splitAddress(address);
  const plus = local.indexOf(SUBADDRESS_SEPARATOR);
  if (plus <= 0) return undefined;
  return expand(accounts, `${local.slice(0, plus)}@${domain}`);
}

async function expand(accounts: RecipientLookups, address: string): Promise<LocalRecipient | undefined> {
  const userIds = new Set<number>();
  const remote = new Set<string>();
  const seen = new Set<string>();
  let frontier = [address];
  for (let depth = 0; frontier.length > 0 && depth <= MAX_ALIAS_DEPTH; depth++) {
    const next: string[] = [];
    for (const current of frontier) {
      if (seen.has(current)) continue;
      seen.add(current);
      const user = await accounts.getUser(current);
      if (user) {
        userIds.add(user.id);
        continue;
      }
      const alias = await accounts.getAlias(current);
      if (alias) {
        next.push(...alias.targets);
        continue;
      }
      const domain = splitAddress(current)[1];
      // A dangling local target (its user was removed) receives nothing; a remote one forwards.
      if (current !== address && !(await accounts.isLocalDomain(domain))) remote.add(current);
    }
    frontier = next;
  }
  if (userIds.size === 0 && remote.size === 0) return undefined;
  return { address, userIds: [...userIds], remote: [...remote] };
}

function splitAddress(address: string): [string, string] {
  const at = address.lastIndexOf('@');
  return [address.slice(0, at), address.slice(at + 1)];
}
