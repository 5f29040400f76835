// The account store, by role: local domains, users (mailboxes) and aliases. Every
// name arriving here has been normalised by src/mail/address.ts. Implementations
// (sqlite/accounts.ts, later PostgreSQL) keep the cross-table rules — an address is
// a user or an alias, never both; a domain with accounts cannot be removed — inside
// single transactions. Every domain added with role aliases has postmaster@ and
// abuse@ (src/mail/role-addresses.ts): an alias, a user, or "pending" — waiting for
// the user it is meant for, and refused with a temporary error until then, so that
// nothing is accepted for nobody. The contract suite (test/store/contract/) holds every
// implementation to the same behaviour.
import type { DkimKeyPair } from '../mail/dkim-key.ts';

export class AccountError extends Error {}

export interface UserRecord {
  id: number;
  address: string;
  domain: string;
  passwordHash: string;
  apopSecret: string | null;
  createdAt: number;
}

export interface DomainRecord {
  name: string;
  createdAt: number;
  users: number;
  aliases: number;
}

export interface AliasRecord {
  address: string;
  targets: string[];
}

/** A role alias waiting for its target to exist. */
export interface PendingAlias {
  address: string;
  domain: string;
  /** The user or alias it will deliver to once that exists; null: the instance's first user. */
  awaiting: string | null;
}

/**
 * Where a new domain's postmaster@ and abuse@ deliver: an address (a local user or
 * alias, maybe not yet existing, or a remote address), or the instance's first user.
 */
export type RoleAliasTarget = { address: string; domain: string } | 'first-user';

export interface AccountStore {
  isLocalDomain(domain: string): Promise<boolean>;
  /**
   * Adds a local domain with its first DKIM keys and, given roleAliases, its
   * postmaster@ and abuse@ aliases (pending while the target does not exist yet, or
   * while 'first-user' finds no user), in one transaction.
   */
  addDomain(domain: string, dkimKeys: readonly DkimKeyPair[], now?: number, roleAliases?: RoleAliasTarget): Promise<void>;
  /** Sorted by name; aliases counts pending ones too. */
  listDomains(): Promise<DomainRecord[]>;
  /** The first local domain added (of those left): where RCPT TO:<Postmaster> goes. */
  primaryDomain(): Promise<string | undefined>;
  /**
   * Refuses (AccountError) while the domain still has users, aliases besides its own
   * postmaster@ and abuse@ (removed with it), or aliases elsewhere pointing into it.
   */
  removeDomain(domain: string): Promise<void>;

  /**
   * Adds a user and their INBOX, in one transaction, and gives pending aliases
   * awaiting this user (or awaiting the first user, when this is the only one) their
   * target.
   */
  addUser(address: string, domain: string, passwordHash: string, now?: number): Promise<UserRecord>;
  getUser(address: string): Promise<UserRecord | undefined>;
  getUserById(id: number): Promise<UserRecord | undefined>;
  listUsers(domain?: string): Promise<UserRecord[]>;
  setPasswordHash(address: string, passwordHash: string): Promise<void>;
  setApopSecret(address: string, secret: string | null): Promise<void>;
  /**
   * Removes a user with their mailboxes, messages, grants and the alias entries that
   * point at them, then the message files nothing references any more. Refuses
   * (AccountError, naming them) when a postmaster@ or abuse@ address would then reach
   * nobody; a user who is itself such an address leaves it pending.
   */
  removeUser(address: string): Promise<{ aliasLinksRemoved: number; blobsRemoved: number }>;

  getAlias(address: string): Promise<AliasRecord | undefined>;
  /** Aliases that name this address among their targets (one level). */
  aliasesTargeting(address: string): Promise<string[]>;
  listAliases(domain?: string): Promise<AliasRecord[]>;
  /**
   * Adds targets to an alias (creating it). A target in a local domain must be an
   * existing user or alias, so that mail is never accepted for nobody; a target in
   * another domain is simple forwarding. A pending alias of that address is replaced;
   * pending aliases awaiting it get it as their target.
   */
  addAlias(address: string, domain: string, targets: { address: string; domain: string }[], now?: number): Promise<void>;
  /** Removes an alias; a postmaster@ or abuse@ alias becomes pending (awaiting null). */
  removeAlias(address: string): Promise<void>;

  pendingAlias(address: string): Promise<PendingAlias | undefined>;
  listPendingAliases(domain?: string): Promise<PendingAlias[]>;
}
