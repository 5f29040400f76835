// The spam store on sqlite (src/store/spam.ts is the contract): one row per model, its
// token counts and 4-gram weights as little-endian packed arrays; a user's row goes with
// the user (a trigger, schema v8; v9 dropped the token weights).
import { endianness } from 'node:os';
import type { StatementSync } from 'node:sqlite';
import { commitDurably, type Db } from './db.ts';
import type { JunkMode, SpamModelColumns, SpamModelSummary, SpamStore, StoredSpamModel } from '../spam.ts';

interface Row {
  spam_messages: number;
  ham_messages: number;
  tokens: Uint8Array;
  grams: Uint8Array;
  version: number;
  updated_at: number;
}

/** Octets per token: hash, spam, ham (4 each) and seen (2). */
const TOKEN_OCTETS = 14;
/** Octets per weight: index and value (4 each). */
const WEIGHT_OCTETS = 8;

export class SqliteSpamStore implements SpamStore {
  readonly #db: Db;
  readonly #version: StatementSync;
  readonly #load: StatementSync;

  constructor(db: Db) {
    this.#db = db;
    this.#version = db.prepare('SELECT version FROM spam_models WHERE scope = ?');
    this.#load = db.prepare('SELECT spam_messages, ham_messages, tokens, grams, version, updated_at FROM spam_models WHERE scope = ?');
  }

  async version(scope: number): Promise<number> {
    return (this.#version.get(scope) as { version: number } | undefined)?.version ?? 0;
  }

  async load(scope: number): Promise<StoredSpamModel | undefined> {
    const row = this.#load.get(scope) as Row | undefined;
    if (!row) return undefined;
    return {
      spamMessages: row.spam_messages,
      hamMessages: row.ham_messages,
      tokens: unpackTokens(row.tokens),
      grams: unpackWeights(row.grams),
      version: row.version,
      updatedAt: row.updated_at,
    };
  }

  async save(scope: number, model: SpamModelColumns, expected: number, now = Date.now()): Promise<number | undefined> {
    const tokens = packTokens(model.tokens);
    const grams = packWeights(model.grams);
    return commitDurably(this.#db, () => {
      const current = (this.#version.get(scope) as { version: number } | undefined)?.version ?? 0;
      if (current !== expected) return undefined;
      this.#db
        .prepare(
          `INSERT INTO spam_models (scope, spam_messages, ham_messages, tokens, grams, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (scope) DO UPDATE SET spam_messages = excluded.spam_messages, ham_messages = excluded.ham_messages,
             tokens = excluded.tokens, grams = excluded.grams, version = excluded.version, updated_at = excluded.updated_at`,
        )
        .run(scope, model.spamMessages, model.hamMessages, tokens, grams, current + 1, now);
      return current + 1;
    });
  }

  async remove(scope: number): Promise<boolean> {
    return commitDurably(this.#db, () => Number(this.#db.prepare('DELETE FROM spam_models WHERE scope = ?').run(scope).changes) > 0);
  }

  async list(): Promise<SpamModelSummary[]> {
    const rows = this.#db
      .prepare('SELECT scope, spam_messages, ham_messages, length(tokens) AS t, length(grams) AS w, updated_at FROM spam_models ORDER BY scope')
      .all() as { scope: number; spam_messages: number; ham_messages: number; t: number; w: number; updated_at: number }[];
    return rows.map((r) => ({ scope: r.scope, spamMessages: r.spam_messages, hamMessages: r.ham_messages, tokens: r.t / TOKEN_OCTETS, bytes: r.t + r.w, updatedAt: r.updated_at }));
  }

  async junkMode(userId: number): Promise<JunkMode> {
    return (this.#db.prepare('SELECT junk FROM spam_users WHERE user_id = ?').get(userId) as { junk: JunkMode } | undefined)?.junk ?? 'folder';
  }

  async setJunkMode(userId: number, mode: JunkMode): Promise<void> {
    await commitDurably(this.#db, () =>
      this.#db.prepare('INSERT INTO spam_users (user_id, junk) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET junk = excluded.junk').run(userId, mode),
    );
  }

  async digestUsers(): Promise<{ userId: number; lastDigestAt: number }[]> {
    const rows = this.#db.prepare("SELECT user_id, digest_sent_at FROM spam_users WHERE junk = 'digest' ORDER BY user_id").all() as { user_id: number; digest_sent_at: number }[];
    return rows.map((r) => ({ userId: r.user_id, lastDigestAt: r.digest_sent_at }));
  }

  async setDigestSent(userId: number, at: number): Promise<void> {
    await commitDurably(this.#db, () => this.#db.prepare('UPDATE spam_users SET digest_sent_at = ? WHERE user_id = ?').run(at, userId));
  }
}

// Packed column after column, little-endian: hashes, spam counts, ham counts (u32 each),
// then seen days (u16); 4-gram weights: indices (u32), then values (f32). On a little-endian
// machine a loaded model's columns are views of the row's own octets: no copy.
const LITTLE_ENDIAN = endianness() === 'LE';

function packTokens(tokens: SpamModelColumns['tokens']): Buffer {
  return packColumns([tokens.hashes, tokens.spam, tokens.ham, tokens.seen]);
}

function unpackTokens(bytes: Uint8Array): SpamModelColumns['tokens'] {
  const n = Math.floor(bytes.byteLength / TOKEN_OCTETS);
  return { hashes: column(bytes, 0, n, Uint32Array), spam: column(bytes, 4 * n, n, Uint32Array), ham: column(bytes, 8 * n, n, Uint32Array), seen: column(bytes, 12 * n, n, Uint16Array) };
}

function packWeights(weights: SpamModelColumns['grams']): Buffer {
  return packColumns([weights.indices, weights.values]);
}

function unpackWeights(bytes: Uint8Array): SpamModelColumns['grams'] {
  const n = Math.floor(bytes.byteLength / WEIGHT_OCTETS);
  return { indices: column(bytes, 0, n, Uint32Array), values: column(bytes, 4 * n, n, Float32Array) };
}

type Column = Uint32Array | Uint16Array | Float32Array;

function packColumns(columns: readonly Column[]): Buffer {
  const out = Buffer.allocUnsafe(columns.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of columns) {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), at);
    else {
      const view = new DataView(out.buffer, out.byteOffset + at, c.byteLength);
      c.forEach((value, i) => (c instanceof Float32Array ? view.setFloat32(i * 4, value, true) : c instanceof Uint16Array ? view.setUint16(i * 2, value, true) : view.setUint32(i * 4, value, true)));
    }
    at += c.byteLength;
  }
  return out;
}

function column<T extends Column>(bytes: Uint8Array, offset: number, n: number, Type: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; new (length: number): T; BYTES_PER_ELEMENT: number }): T {
  const start = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN && start % Type.BYTES_PER_ELEMENT === 0) return new Type(bytes.buffer, start, n);
  const out = new Type(n);
  const view = new DataView(bytes.buffer, start, n * Type.BYTES_PER_ELEMENT);
  for (let i = 0; i < n; i++) {
    out[i] = Type.BYTES_PER_ELEMENT === 2 ? view.getUint16(i * 2, true) : out instanceof Float32Array ? view.getFloat32(i * 4, true) : view.getUint32(i * 4, true);
  }
  return out;
}
