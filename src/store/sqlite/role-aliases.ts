// The role aliases of the account store on sqlite: postmaster@ and abuse@ of every
// local domain (RFC 5321 §4.5.1, RFC 2142 §2), and the pending ones that wait for the
// user they are meant for. Every method runs inside the caller's transaction
// (sqlite/accounts.ts), so a role address is never left half-made.
import type { StatementSync } from 'node:sqlite';
import { isRoleAddress, roleAddressesOf } from '../../mail/role-addresses.ts';
import type { AliasRecord, PendingAlias, RoleAliasTarget } from '../accounts.ts';

/** The account lookups the rules need, synchronous inside a transaction. */
export interface AccountLookups {
  prepare(sql: string): StatementSync;
  hasUser(address: string): boolean;
  alias(address: string): AliasRecord | undefined;
  isLocalDomain(domain: string): boolean;
}

/** The same bound as recipient resolution (src/intake/recipients.ts): deeper is a loop. */
const MAX_ALIAS_DEPTH = 10;

interface PendingRow {
  address: string;
  domain: string;
  awaiting: string | null;
}

const toPending = (row: PendingRow): PendingAlias => ({ address: row.address, domain: row.domain, awaiting: row.awaiting });
const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1);

export class RoleAliases {
  readonly #accounts: AccountLookups;

  constructor(accounts: AccountLookups) {
    this.#accounts = accounts;
  }

  pending(address: string): PendingAlias | undefined {
    const row = this.#accounts.prepare('SELECT address, domain, awaiting FROM pending_aliases WHERE address = ?').get(address);
    return row && toPending(row as unknown as PendingRow);
  }

  listPending(domain?: string): PendingAlias[] {
    const rows = (
      domain === undefined
        ? this.#accounts.prepare('SELECT address, domain, awaiting FROM pending_aliases ORDER BY address').all()
        : this.#accounts.prepare('SELECT address, domain, awaiting FROM pending_aliases WHERE domain = ? ORDER BY address').all(domain)
    ) as unknown as PendingRow[];
    return rows.map(toPending);
  }

  /**
   * Gives a new domain its postmaster@ and abuse@: an alias to the target when it
   * exists (or is remote), else a pending alias awaiting it. 'first-user' is the
   * instance's oldest user, or pending (awaiting null) while there is none.
   */
  addForDomain(domain: string, target: RoleAliasTarget, now: number): void {
    const chosen = target === 'first-user' ? this.#firstUser() : target.address;
    for (const address of roleAddressesOf(domain)) {
      if (this.#accounts.hasUser(address) || this.#accounts.alias(address)) continue; // never overwritten
      if (chosen !== undefined && chosen !== address && this.#exists(chosen)) this.#link(address, chosen, domain, now);
      else this.#setPending(address, domain, target === 'first-user' ? null : target.address, now);
    }
  }

  /**
   * `created` (a user or an alias) now exists: pending aliases awaiting it become
   * aliases to it, and so on up the chain; with firstUser, those awaiting the first
   * user too. A pending alias of that very address is done with.
   */
  fill(created: string, firstUser: boolean, now: number): void {
    this.#accounts.prepare('DELETE FROM pending_aliases WHERE address = ?').run(created);
    let frontier = [created];
    for (let round = 0; frontier.length > 0; round++) {
      const next: string[] = [];
      for (const target of frontier) {
        const awaitingFirst = firstUser && round === 0 ? ' OR awaiting IS NULL' : '';
        const rows = this.#accounts
          .prepare(`DELETE FROM pending_aliases WHERE awaiting = ?${awaitingFirst} RETURNING address, domain, awaiting`)
          .all(target) as unknown as PendingRow[];
        for (const row of rows) {
          this.#link(row.address, target, row.domain, now);
          next.push(row.address);
        }
      }
      frontier = next;
    }
  }

  /** After an alias or user of this name went away: a role address waits for a new target. */
  keepIfRole(address: string, now: number): void {
    if (isRoleAddress(address)) this.#setPending(address, domainOf(address), null, now);
  }

  /**
   * Runs change and returns the role addresses it left reaching nobody (neither a
   * user, a remote address nor pending at the end of their alias chain), in the
   * caller's transaction: the caller throws to undo the change.
   */
  brokenBy(change: () => void): string[] {
    const roles = this.#allRoleAddresses().filter((address) => this.#reaches(address, 0));
    change();
    return roles.filter((address) => !this.#reaches(address, 0) && !this.pending(address));
  }

  #allRoleAddresses(): string[] {
    const domains = this.#accounts.prepare('SELECT name FROM domains ORDER BY rowid').all() as unknown as { name: string }[];
    return domains.flatMap((d) => roleAddressesOf(d.name));
  }

  /** Whether mail to address reaches a user or leaves for a remote one. */
  #reaches(address: string, depth: number): boolean {
    if (depth > MAX_ALIAS_DEPTH) return false;
    if (this.#accounts.hasUser(address)) return true;
    const alias = this.#accounts.alias(address);
    if (alias) return alias.targets.some((target) => this.#reaches(target, depth + 1));
    return depth > 0 && !this.#accounts.isLocalDomain(domainOf(address));
  }

  #exists(address: string): boolean {
    return this.#accounts.hasUser(address) || this.#accounts.alias(address) !== undefined || !this.#accounts.isLocalDomain(domainOf(address));
  }

  #firstUser(): string | undefined {
    const row = this.#accounts.prepare('SELECT address FROM users ORDER BY id LIMIT 1').get() as { address: string } | undefined;
    return row?.address;
  }

  #link(address: string, target: string, domain: string, now: number): void {
    this.#accounts
      .prepare('INSERT OR IGNORE INTO aliases (address, target, domain, created_at) VALUES (?, ?, ?, ?)')
      .run(address, target, domain, now);
  }

  #setPending(address: string, domain: string, awaiting: string | null, now: number): void {
    this.#accounts
      .prepare('INSERT OR REPLACE INTO pending_aliases (address, domain, awaiting, created_at) VALUES (?, ?, ?, ?)')
      .run(address, domain, awaiting, now);
  }
}
