// The spam store on sqlite (src/store/spam.ts is the contract): one row per model, its
// token counts and weights as little-endian packed arrays; a user's row goes with the
// user (a trigger, schema v8).
import type { StatementSync } from 'node:sqlite';
import { commitDurably, type Db } from './db.ts';
import type { JunkMode, SpamModelColumns, SpamModelSummary, SpamStore, StoredSpamModel } from '../spam.ts';

interface Row {
  spam_messages: number;
  ham_messages: number;
  tokens: Uint8Array;
  weights: Uint8Array;
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
    this.#load = db.prepare('SELECT spam_messages, ham_messages, tokens, weights, grams, version, updated_at FROM spam_models WHERE scope = ?');
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
      weights: unpackWeights(row.weights),
      grams: unpackWeights(row.grams),
      version: row.version,
      updatedAt: row.updated_at,
    };
  }

  async save(scope: number, model: SpamModelColumns, expected: number, now = Date.now()): Promise<number | undefined> {
    const tokens = packTokens(model.tokens);
    const weights = packWeights(model.weights);
    const grams = packWeights(model.grams);
    return commitDurably(this.#db, () => {
      const current = (this.#version.get(scope) as { version: number } | undefined)?.version ?? 0;
      if (current !== expected) return undefined;
      this.#db
        .prepare(
          `INSERT INTO spam_models (scope, spam_messages, ham_messages, tokens, weights, grams, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (scope) DO UPDATE SET spam_messages = excluded.spam_messages, ham_messages = excluded.ham_messages,
             tokens = excluded.tokens, weights = excluded.weights, grams = excluded.grams, version = excluded.version, updated_at = excluded.updated_at`,
        )
        .run(scope, model.spamMessages, model.hamMessages, tokens, weights, grams, current + 1, now);
      return current + 1;
    });
  }

  async remove(scope: number): Promise<boolean> {
    return commitDurably(this.#db, () => Number(this.#db.prepare('DELETE FROM spam_models WHERE scope = ?').run(scope).changes) > 0);
  }

  async list(): Promise<SpamModelSummary[]> {
    const rows = this.#db
      .prepare('SELECT scope, spam_messages, ham_messages, length(tokens) AS t, length(weights) + length(grams) AS w, updated_at FROM spam_models ORDER BY scope')
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

function packTokens(tokens: SpamModelColumns['tokens']): Buffer {
  const n = tokens.hashes.length;
  const out = Buffer.allocUnsafe(n * TOKEN_OCTETS);
  for (let i = 0; i < n; i++) {
    const at = i * TOKEN_OCTETS;
    out.writeUInt32LE(tokens.hashes[i]!, at);
    out.writeUInt32LE(tokens.spam[i]!, at + 4);
    out.writeUInt32LE(tokens.ham[i]!, at + 8);
    out.writeUInt16LE(tokens.seen[i]!, at + 12);
  }
  return out;
}

function unpackTokens(bytes: Uint8Array): SpamModelColumns['tokens'] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Math.floor(buffer.length / TOKEN_OCTETS);
  const out = { hashes: new Uint32Array(n), spam: new Uint32Array(n), ham: new Uint32Array(n), seen: new Uint16Array(n) };
  for (let i = 0; i < n; i++) {
    const at = i * TOKEN_OCTETS;
    out.hashes[i] = buffer.readUInt32LE(at);
    out.spam[i] = buffer.readUInt32LE(at + 4);
    out.ham[i] = buffer.readUInt32LE(at + 8);
    out.seen[i] = buffer.readUInt16LE(at + 12);
  }
  return out;
}

function packWeights(weights: SpamModelColumns['weights']): Buffer {
  const n = weights.indices.length;
  const out = Buffer.allocUnsafe(n * WEIGHT_OCTETS);
  for (let i = 0; i < n; i++) {
    out.writeUInt32LE(weights.indices[i]!, i * WEIGHT_OCTETS);
    out.writeFloatLE(weights.values[i]!, i * WEIGHT_OCTETS + 4);
  }
  return out;
}

function unpackWeights(bytes: Uint8Array): SpamModelColumns['weights'] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Math.floor(buffer.length / WEIGHT_OCTETS);
  const out = { indices: new Uint32Array(n), values: new Float32Array(n) };
  for (let i = 0; i < n; i++) {
    out.indices[i] = buffer.readUInt32LE(i * WEIGHT_OCTETS);
    out.values[i] = buffer.readFloatLE(i * WEIGHT_OCTETS + 4);
  }
  return out;
}
