// The account store on sqlite (src/store/accounts.ts is the contract): local domains,
// users and aliases. The cross-table rules (an address is a user or an alias, never
// both; a domain with accounts cannot be removed; postmaster@ and abuse@ never reach
// nobody: sqlite/role-aliases.ts) hold inside single transactions.
// Lookups are synchronous statements behind async methods: they run on every RCPT,
// and a prepared sqlite SELECT is cheaper than any hop to another thread.
import type { StatementSync } from 'node:sqlite';
import type { Db } from './db.ts';
import { transaction } from './db.ts';
import {
  AccountError,
  type AccountStore,
  type AliasRecord,
  type DomainRecord,
  type PendingAlias,
  type RoleAliasTarget,
  type UserRecord,
} from '../accounts.ts';
import { roleAddressesOf } from '../../mail/role-addresses.ts';
import type { DkimKeyPair } from '../../mail/dkim-key.ts';
import { insertDkimKeys } from './dkim-keys.ts';
import type { SqliteMessageStore } from './messages.ts';
import { RoleAliases } from './role-aliases.ts';

interface UserRow {
  id: number;
  address: string;
  domain: string;
  password_hash: string;
  apop_secret: string | null;
  created_at: number;
}

function toUser(row: UserRow): UserRecord {
  return {
    id: row.id,
    address: row.address,
    domain: row.domain,
    passwordHash: row.password_hash,
    apopSecret: row.apop_secret,
    createdAt: row.created_at,
  };
}

export class SqliteAccountStore implements AccountStore {
  readonly #db: Db;
  readonly #messages: SqliteMessageStore;
  /** Prepared statements by SQL text: lookups run for every RCPT. */
  readonly #statements = new Map<string, StatementSync>();
  readonly #roles: RoleAliases;

  constructor(db: Db, messages: SqliteMessageStore) {
    this.#db = db;
    this.#messages = messages;
    this.#roles = new RoleAliases({
      prepare: (sql) => this.#prepare(sql),
      hasUser: (address) => this.#user(address) !== undefined,
      alias: (address) => this.#alias(address),
      isLocalDomain: (domain) => this.#isLocalDomain(domain),
    });
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  // ── domains ──────────────────────────────────────────────────────────────

  async isLocalDomain(domain: string): Promise<boolean> {
    return this.#isLocalDomain(domain);
  }

  #isLocalDomain(domain: string): boolean {
    return this.#prepare('SELECT 1 FROM domains WHERE name = ?').get(domain) !== undefined;
  }

  async addDomain(domain: string, dkimKeys: readonly DkimKeyPair[], now = Date.now(), roleAliases?: RoleAliasTarget): Promise<void> {
    transaction(this.#db, () => {
      if (this.#isLocalDomain(domain)) throw new AccountError(`domain ${domain} already exists`);
      this.#prepare('INSERT INTO domains (name, created_at) VALUES (?, ?)').run(domain, now);
      insertDkimKeys(this.#db, domain, dkimKeys, now);
      if (roleAliases !== undefined) this.#roles.addForDomain(domain, roleAliases, now);
    });
  }

  async primaryDomain(): Promise<string | undefined> {
    const row = this.#prepare('SELECT name FROM domains ORDER BY created_at, rowid LIMIT 1').get() as { name: string } | undefined;
    return row?.name;
  }

  async listDomains(): Promise<DomainRecord[]> {
    const rows = this.#prepare(
        `SELECT d.name, d.created_at,
                (SELECT count(*) FROM users u WHERE u.domain = d.name) AS users,
                (SELECT count(DISTINCT a.address) FROM aliases a WHERE a.domain = d.name)
                  + (SELECT count(*) FROM pending_aliases p WHERE p.domain = d.name) AS aliases
           FROM domains d ORDER BY d.name`,
      )
      .all() as unknown as { name: string; created_at: number; users: number; aliases: number }[];
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, users: r.users, aliases: r.aliases }));
  }

  /**
   * Removes an empty domain with its DKIM keys and its own postmaster@ and abuse@
   * (pending ones go by cascade). Refuses while users or other aliases remain, or
   * while an alias of another domain points into it (it would turn into forwarding).
   */
  async removeDomain(domain: string): Promise<void> {
    transaction(this.#db, () => {
      if (!this.#isLocalDomain(domain)) throw new AccountError(`no such domain: ${domain}`);
      const roles = roleAddressesOf(domain);
      const users = this.#count('SELECT count(*) AS n FROM users WHERE domain = ?', domain);
      const aliases = this.#count(
        `SELECT count(DISTINCT address) AS n FROM aliases WHERE domain = ? AND address NOT IN (${roles.map(() => '?').join(', ')})`,
        domain,
        ...roles,
      );
      if (users > 0 || aliases > 0) {
        throw new AccountError(
          `domain ${domain} still has ${users} user(s) and ${aliases} alias(es) besides postmaster@ and abuse@; remove them first`,
        );
      }
      const inward = this.#prepare(
        "SELECT DISTINCT address FROM aliases WHERE domain != ? AND substr(target, -length(?) - 1) = '@' || ?",
      ).all(domain, domain, domain) as unknown as { address: string }[];
      if (inward.length > 0) {
        throw new AccountError(
          `domain ${domain} is a target of ${inward.map((r) => r.address).join(', ')}; point them elsewhere first`,
        );
      }
      this.#prepare('DELETE FROM aliases WHERE domain = ?').run(domain);
      this.#prepare('DELETE FROM domains WHERE name = ?').run(domain);
    });
  }

  // ── users ────────────────────────────────────────────────────────────────

  async addUser(address: string, domain: string, passwordHash: string, now = Date.now()): Promise<UserRecord> {
    return transaction(this.#db, () => {
      this.#requireLocalDomain(domain, address);
      if (this.#user(address)) throw new AccountError(`user ${address} already exists`);
      if (this.#alias(address)) throw new AccountError(`${address} is already an alias`);
      this.#db
        .prepare('INSERT INTO users (address, domain, password_hash, created_at) VALUES (?, ?, ?, ?)')
        .run(address, domain, passwordHash, now);
      const user = this.#user(address)!;
      this.#messages.createMailbox(user.id);
      const onlyUser = this.#count('SELECT count(*) AS n FROM users WHERE id != ?', user.id) === 0;
      this.#roles.fill(address, onlyUser, now);
      return user;
    });
  }

  async getUser(address: string): Promise<UserRecord | undefined> {
    return this.#user(address);
  }

  #user(address: string): UserRecord | undefined {
    const row = this.#prepare('SELECT * FROM users WHERE address = ?').get(address) as UserRow | undefined;
    return row && toUser(row);
  }

  async getUserById(id: number): Promise<UserRecord | undefined> {
    const row = this.#prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return row && toUser(row);
  }

  async listUsers(domain?: string): Promise<UserRecord[]> {
    const rows = (
      domain === undefined
        ? this.#prepare('SELECT * FROM users ORDER BY domain, address').all()
        : this.#prepare('SELECT * FROM users WHERE domain = ? ORDER BY address').all(domain)
    ) as unknown as UserRow[];
    return rows.map(toUser);
  }

  async setPasswordHash(address: string, passwordHash: string): Promise<void> {
    const result = this.#prepare('UPDATE users SET password_hash = ? WHERE address = ?').run(passwordHash, address);
    if (result.changes === 0) throw new AccountError(`no such user: ${address}`);
  }

  async setApopSecret(address: string, secret: string | null): Promise<void> {
    const result = this.#prepare('UPDATE users SET apop_secret = ? WHERE address = ?').run(secret, address);
    if (result.changes === 0) throw new AccountError(`no such user: ${address}`);
  }

  /**
   * Deletes the user row with their mailboxes, messages and grants, and the alias
   * entries pointing at the user, in one transaction; then the message files that
   * only they referenced (after the commit: a row never exists without its file).
   */
  async removeUser(address: string): Promise<{ aliasLinksRemoved: number; blobsRemoved: number }> {
    const { freed, aliasLinksRemoved } = transaction(this.#db, () => {
      const user = this.#user(address);
      if (!user) throw new AccountError(`no such user: ${address}`);
      let freed: string[] = [];
      let aliasLinksRemoved = 0;
      const broken = this.#roles.brokenBy(() => {
        freed = this.#messages.removeMailboxesOfUser(user.id);
        aliasLinksRemoved = Number(this.#prepare('DELETE FROM aliases WHERE target = ?').run(address).changes);
        this.#prepare('DELETE FROM users WHERE id = ?').run(user.id);
        this.#roles.keepIfRole(address, Date.now());
      });
      if (broken.length > 0) throw lastRecipientError(address, broken);
      return { freed, aliasLinksRemoved };
    });
    await this.#messages.removeBlobs(freed);
    return { aliasLinksRemoved, blobsRemoved: freed.length };
  }

  // ── aliases ──────────────────────────────────────────────────────────────

  async getAlias(address: string): Promise<AliasRecord | undefined> {
    return this.#alias(address);
  }

  #alias(address: string): AliasRecord | undefined {
    const rows = this.#prepare('SELECT target FROM aliases WHERE address = ? ORDER BY target')
      .all(address) as unknown as { target: string }[];
    return rows.length === 0 ? undefined : { address, targets: rows.map((r) => r.target) };
  }

  /** Aliases that name this address among their targets (one level). */
  async aliasesTargeting(address: string): Promise<string[]> {
    const rows = this.#prepare('SELECT address FROM aliases WHERE target = ?').all(address) as unknown as { address: string }[];
    return rows.map((row) => row.address);
  }

  async listAliases(domain?: string): Promise<AliasRecord[]> {
    const rows = (
      domain === undefined
        ? this.#prepare('SELECT address, target FROM aliases ORDER BY address, target').all()
        : this.#prepare('SELECT address, target FROM aliases WHERE domain = ? ORDER BY address, target').all(domain)
    ) as unknown as { address: string; target: string }[];
    const byAddress = new Map<string, string[]>();
    for (const row of rows) {
      const targets = byAddress.get(row.address) ?? [];
      targets.push(row.target);
      byAddress.set(row.address, targets);
    }
    return [...byAddress].map(([address, targets]) => ({ address, targets }));
  }

  /**
   * Adds targets to an alias (creating it). A target in a local domain must be an
   * existing user or alias, so that mail is never accepted for nobody; a target in
   * another domain is simple forwarding.
   */
  async addAlias(address: string, domain: string, targets: { address: string; domain: string }[], now = Date.now()): Promise<void> {
    transaction(this.#db, () => {
      this.#requireLocalDomain(domain, address);
      if (this.#user(address)) throw new AccountError(`${address} is already a user`);
      for (const target of targets) {
        if (target.address === address) throw new AccountError(`alias ${address} cannot point to itself`);
        if (this.#isLocalDomain(target.domain) && !this.#user(target.address) && !this.#alias(target.address)) {
          throw new AccountError(`alias target ${target.address} is in a local domain but is no user or alias`);
        }
      }
      const insert = this.#prepare(
        'INSERT OR IGNORE INTO aliases (address, target, domain, created_at) VALUES (?, ?, ?, ?)',
      );
      for (const target of targets) insert.run(address, target.address, domain, now);
      this.#roles.fill(address, false, now);
    });
  }

  async removeAlias(address: string): Promise<void> {
    transaction(this.#db, () => {
      const broken = this.#roles.brokenBy(() => {
        const result = this.#prepare('DELETE FROM aliases WHERE address = ?').run(address);
        if (result.changes === 0) throw new AccountError(`no such alias: ${address}`);
        this.#roles.keepIfRole(address, Date.now());
      });
      if (broken.length > 0) throw lastRecipientError(address, broken);
    });
  }

  async pendingAlias(address: string): Promise<PendingAlias | undefined> {
    return this.#roles.pending(address);
  }

  async listPendingAliases(domain?: string): Promise<PendingAlias[]> {
    return this.#roles.listPending(domain);
  }

  #requireLocalDomain(domain: string, address: string): void {
    if (!this.#isLocalDomain(domain)) {
      throw new AccountError(`${domain} is not a local domain (add it first: kakitome domain add ${domain}) for ${address}`);
    }
  }

  #count(sql: string, ...params: (string | number)[]): number {
    return (this.#prepare(sql).get(...params) as { n: number }).n;
  }
}

/** RFC 5321 §4.5.1, RFC 2142: a removal would leave postmaster@ or abuse@ delivering to nobody. */
function lastRecipientError(address: string, broken: string[]): AccountError {
  return new AccountError(
    `${address} is the last recipient of ${broken.join(', ')}, which every domain must have (RFC 5321 §4.5.1, RFC 2142); ` +
      `give ${broken.length > 1 ? 'them' : 'it'} another target first: kakitome alias add ${broken[0]} ADDRESS`,
  );
}
