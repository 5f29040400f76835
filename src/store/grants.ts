// The grant store, by role: POP-before-SMTP (SPEC [pop_before_smtp], off by default).
// A successful POP3 login authorises that client address on the submission listeners
// for a while, for the addresses of the user who logged in only. Kept in the store,
// so grants survive a restart; expiry is checked against the clock at each use.

export interface PopBeforeSmtpGrant {
  userId: number;
  loggedInAt: number;
  expiresAt: number;
}

export interface GrantStore {
  /** Records a POP3 login from ip; a later login from the same address replaces it. */
  recordPopLogin(ip: string, userId: number, ttlMs: number, now?: number): Promise<void>;
  /** The grant for ip, if one exists and has not expired. */
  lookupPopLogin(ip: string, now?: number): Promise<PopBeforeSmtpGrant | undefined>;
  /** Drops expired grants; returns how many. */
  pruneExpired(now?: number): Promise<number>;
}
