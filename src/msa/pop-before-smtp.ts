// POP-before-SMTP (SPEC [pop_before_smtp], off by default): a successful POP3 login
// authorises that client address on the submission listeners for `ttl`, for the
// addresses of the user who logged in only. The registry lives in the store, so it
// survives a restart; expiry is checked against the clock at each use.
import type { Db } from '../store/sqlite/db.ts';
import { plainAddress } from '../policy/access/networks.ts';

export interface PopBeforeSmtpGrant {
  userId: number;
  loggedInAt: number;
  expiresAt: number;
}

export class PopBeforeSmtpRegistry {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Records a POP3 login from ip; a later login from the same address replaces it. */
  record(ip: string, userId: number, ttlMs: number, now = Date.now()): void {
    this.#db
      .prepare(
        `INSERT INTO pop_before_smtp (ip, user_id, logged_in_at, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (ip) DO UPDATE SET user_id = excluded.user_id, logged_in_at = excluded.logged_in_at,
                                        expires_at = excluded.expires_at`,
      )
      .run(plainAddress(ip), userId, now, now + ttlMs);
  }

  /** The grant for ip, if one exists and has not expired. */
  lookup(ip: string, now = Date.now()): PopBeforeSmtpGrant | undefined {
    const row = this.#db
      .prepare('SELECT user_id, logged_in_at, expires_at FROM pop_before_smtp WHERE ip = ? AND expires_at > ?')
      .get(plainAddress(ip), now) as { user_id: number; logged_in_at: number; expires_at: number } | undefined;
    return row && { userId: row.user_id, loggedInAt: row.logged_in_at, expiresAt: row.expires_at };
  }

  /** Drops expired grants. */
  prune(now = Date.now()): number {
    return Number(this.#db.prepare('DELETE FROM pop_before_smtp WHERE expires_at <= ?').run(now).changes);
  }
}
