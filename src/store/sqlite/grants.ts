// The grant store on sqlite (src/store/grants.ts is the contract): POP-before-SMTP.
import type { Db } from './db.ts';
import { plainAddress } from '../../mail/ip.ts';
import type { GrantStore, PopBeforeSmtpGrant } from '../grants.ts';

export class SqliteGrantStore implements GrantStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async recordPopLogin(ip: string, userId: number, ttlMs: number, now = Date.now()): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO pop_before_smtp (ip, user_id, logged_in_at, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (ip) DO UPDATE SET user_id = excluded.user_id, logged_in_at = excluded.logged_in_at,
                                        expires_at = excluded.expires_at`,
      )
      .run(plainAddress(ip), userId, now, now + ttlMs);
  }

  async lookupPopLogin(ip: string, now = Date.now()): Promise<PopBeforeSmtpGrant | undefined> {
    const row = this.#db
      .prepare('SELECT user_id, logged_in_at, expires_at FROM pop_before_smtp WHERE ip = ? AND expires_at > ?')
      .get(plainAddress(ip), now) as { user_id: number; logged_in_at: number; expires_at: number } | undefined;
    return row && { userId: row.user_id, loggedInAt: row.logged_in_at, expiresAt: row.expires_at };
  }

  async pruneExpired(now = Date.now()): Promise<number> {
    return Number(this.#db.prepare('DELETE FROM pop_before_smtp WHERE expires_at <= ?').run(now).changes);
  }
}
