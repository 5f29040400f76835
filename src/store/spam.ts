// The spam store, by role: the classifier's models — one for the instance (scope 0) and
// one per user who has learned anything (scope = the user's id) — and each user's
// choice of where their junk goes. A model is kept whole (its token counts and 4-gram weights
// as packed arrays): `serve` loads it in milliseconds and notices a new version from
// `kakitome spam train|learn`, which save it with a version check so that two writers
// never lose each other's learning.

/** The instance's model; a user's model has the user's id. */
export const INSTANCE_SCOPE = 0;

/** Where a user's junk goes: the Junk mailbox (IMAP), INBOX with a [SPAM] subject tag (POP3 readers), or Junk plus a daily digest in INBOX. */
export type JunkMode = 'folder' | 'inbox' | 'digest';
export const JUNK_MODES: readonly JunkMode[] = ['folder', 'inbox', 'digest'];

export interface SpamModelColumns {
  spamMessages: number;
  hamMessages: number;
  tokens: { hashes: Uint32Array; spam: Uint32Array; ham: Uint32Array; seen: Uint16Array };
  /** The 4-gram weights: the non-zero ones, by index. */
  grams: { indices: Uint32Array; values: Float32Array };
}

export interface StoredSpamModel extends SpamModelColumns {
  /** Increases with every save; 0 = never saved. */
  version: number;
  /** Unix ms of the last save. */
  updatedAt: number;
}

export interface SpamModelSummary {
  scope: number;
  spamMessages: number;
  hamMessages: number;
  tokens: number;
  /** Octets the model takes in the database. */
  bytes: number;
  updatedAt: number;
}

export interface SpamStore {
  /** The model's version (0 when there is none): cheap, for noticing a new one. */
  version(scope: number): Promise<number>;
  load(scope: number): Promise<StoredSpamModel | undefined>;
  /**
   * Saves a model durably if its version is still `expected` (0: there was none);
   * returns the new version, or undefined when someone else saved in between.
   */
  save(scope: number, model: SpamModelColumns, expected: number, now?: number): Promise<number | undefined>;
  /** Forgets a model; false if there was none. */
  remove(scope: number): Promise<boolean>;
  list(): Promise<SpamModelSummary[]>;
  junkMode(userId: number): Promise<JunkMode>;
  setJunkMode(userId: number, mode: JunkMode): Promise<void>;
  /** Users whose junk mode is digest, with when their last digest went out (unix ms, 0 = never). */
  digestUsers(): Promise<{ userId: number; lastDigestAt: number }[]>;
  setDigestSent(userId: number, at: number): Promise<void>;
}
