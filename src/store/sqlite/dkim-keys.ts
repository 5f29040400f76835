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
}
