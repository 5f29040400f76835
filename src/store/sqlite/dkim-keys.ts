// The key store on sqlite (src/store/keys.ts is the contract): DKIM keys per local
// domain. Private keys stay inside the 0700 data directory.
import type { Db } from './db.ts';
import { transaction } from './db.ts';
import type { DkimAlgorithm, DkimKeyPair } from '../../mail/dkim-key.ts';
import type { DkimKeyRecord, KeyStore } from '../keys.ts';

interface DkimKeyRow {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  private_key: string;
  public_key: string;
  created_at: number;
  retired_at: number | null;
}

/** Inside the caller's transaction (adding a domain adds its first keys). */
export function insertDkimKeys(db: Db, domain: string, keys: readonly DkimKeyPair[], now: number): void {
  const insert = db.prepare(
    `INSERT INTO dkim_keys (domain, selector, algorithm, private_key, public_key, created_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
  );
  for (const key of keys) insert.run(domain, key.selector, key.algorithm, key.privateKey, key.publicKey, now);
}

export class SqliteKeyStore implements KeyStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async addDkimKeys(domain: string, keys: readonly DkimKeyPair[], now = Date.now()): Promise<void> {
    transaction(this.#db, () => insertDkimKeys(this.#db, domain, keys, now));
  }

  async listDkimKeys(domain: string): Promise<DkimKeyRecord[]> {
    return this.#list(domain);
  }

  async activeDkimKeys(domain: string): Promise<DkimKeyRecord[]> {
    return this.#list(domain).filter((k) => k.retiredAt === null);
  }

  async rotateDkimKeys(domain: string, keys: readonly DkimKeyPair[], now = Date.now()): Promise<string[]> {
    return transaction(this.#db, () => {
      const retired = this.#list(domain)
        .filter((k) => k.retiredAt === null)
        .map((k) => k.selector);
      const update = this.#db.prepare(
        'UPDATE dkim_keys SET retired_at = ? WHERE domain = ? AND selector = ? AND retired_at IS NULL',
      );
      for (const selector of retired) update.run(now, domain, selector);
      insertDkimKeys(this.#db, domain, keys, now);
      return retired;
    });
  }

  /** Deletes a retired key; an active key or an unknown selector is left alone (false). */
  async removeDkimKey(domain: string, selector: string): Promise<boolean> {
    const result = this.#db
      .prepare('DELETE FROM dkim_keys WHERE domain = ? AND selector = ? AND retired_at IS NOT NULL')
      .run(domain, selector);
    return Number(result.changes) > 0;
  }

  #list(domain: string): DkimKeyRecord[] {
    const rows = this.#db
      .prepare(
        `SELECT * FROM dkim_keys WHERE domain = ?
          ORDER BY retired_at IS NOT NULL, created_at DESC, algorithm DESC, selector`,
      )
      .all(domain) as unknown as DkimKeyRow[];
    return rows.map((r) => ({
      domain: r.domain,
      selector: r.selector,
      algorithm: r.algorithm,
      privateKey: r.private_key,
      publicKey: r.public_key,
      createdAt: r.created_at,
      retiredAt: r.retired_at,
    }));
  }
}
