// DKIM keys per local domain. Private keys stay in the store (inside the 0700 data
// directory); retired keys stop signing but stay published until removed.
import type { Db } from './db.ts';
import { transaction } from './db.ts';
import type { DkimAlgorithm, DkimKeyPair } from '../../policy/dkim/keys.ts';

export interface DkimKeyRecord extends DkimKeyPair {
  domain: string;
  createdAt: number;
  retiredAt: number | null;
}

interface DkimKeyRow {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  private_key: string;
  public_key: string;
  created_at: number;
  retired_at: number | null;
}

export class DkimKeyStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  add(domain: string, keys: DkimKeyPair[], now = Date.now()): void {
    transaction(this.#db, () => {
      const insert = this.#db.prepare(
        `INSERT INTO dkim_keys (domain, selector, algorithm, private_key, public_key, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      );
      for (const key of keys) insert.run(domain, key.selector, key.algorithm, key.privateKey, key.publicKey, now);
    });
  }

  /** Every key of the domain, active first, newest first. */
  list(domain: string): DkimKeyRecord[] {
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

  selectors(domain: string): Set<string> {
    return new Set(this.list(domain).map((k) => k.selector));
  }

  /** The keys that sign the domain's mail (not retired), newest first. */
  active(domain: string): DkimKeyRecord[] {
    return this.list(domain).filter((k) => k.retiredAt === null);
  }

  /** Marks active keys retired: they stop signing but stay published. Returns how many. */
  retire(domain: string, selectors: readonly string[], now = Date.now()): number {
    return transaction(this.#db, () => {
      const update = this.#db.prepare(
        'UPDATE dkim_keys SET retired_at = ? WHERE domain = ? AND selector = ? AND retired_at IS NULL',
      );
      let changed = 0;
      for (const selector of selectors) changed += Number(update.run(now, domain, selector).changes);
      return changed;
    });
  }

  /** Deletes a retired key; an active key or an unknown selector is left alone (false). */
  remove(domain: string, selector: string): boolean {
    const result = this.#db
      .prepare('DELETE FROM dkim_keys WHERE domain = ? AND selector = ? AND retired_at IS NOT NULL')
      .run(domain, selector);
    return Number(result.changes) > 0;
  }
}
