// The account store, by role: local domains, users (mailboxes) and aliases. Every
// name arriving here has been normalised by src/mail/address.ts. Implementations
// (sqlite/accounts.ts, later PostgreSQL) keep the cross-table rules — an address is
// a user or an alias, never both; a domain with accounts cannot be removed — inside
// single transactions. The contract suite (test/store/contract/) holds every
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

export interface AccountStore {
  isLocalDomain(domain: string): Promise<boolean>;
  /** Adds a local domain with its first DKIM keys, in one transaction. */
  addDomain(domain: string, dkimKeys: readonly DkimKeyPair[], now?: number): Promise<void>;
  listDomains(): Promise<DomainRecord[]>;
  /** Refuses (AccountError) while the domain still has users or aliases. */
  removeDomain(domain: string): Promise<void>;

  /** Adds a user and their INBOX, in one transaction. */
  addUser(address: string, domain: string, passwordHash: string, now?: number): Promise<UserRecord>;
  getUser(address: string): Promise<UserRecord | undefined>;
  getUserById(id: number): Promise<UserRecord | undefined>;
  listUsers(domain?: string): Promise<UserRecord[]>;
  setPasswordHash(address: string, passwordHash: string): Promise<void>;
  setApopSecret(address: string, secret: string | null): Promise<void>;
  /**
   * Removes a user with their mailboxes, messages, grants and the alias entries that
   * point at them, then the message files nothing references any more.
   */
  removeUser(address: string): Promise<{ aliasLinksRemoved: number; blobsRemoved: number }>;

  getAlias(address: string): Promise<AliasRecord | undefined>;
  /** Aliases that name this address among their targets (one level). */
  aliasesTargeting(address: string): Promise<string[]>;
  listAliases(domain?: string): Promise<AliasRecord[]>;
  /**
   * Adds targets to an alias (creating it). A target in a local domain must be an
   * existing user or alias, so that mail is never accepted for nobody; a target in
   * another domain is simple forwarding.
   */
  addAlias(address: string, domain: string, targets: { address: string; domain: string }[], now?: number): Promise<void>;
  removeAlias(address: string): Promise<void>;
}
