// The token counts of a spam model, in typed arrays: a feature is its 32-bit FNV-1a hash
// (the classifier never needs the text back), kept in an open-addressing table of
// hash, spam count, ham count and the day it was last learned. 15 octets a slot at a
// load of at most three quarters (linear probing still finds a feature in ~2.5 probes),
// against ~100 octets for a Map of strings to objects: an instance's 1,000,000 features
// take 20–30 MB, not ~100 (README, Spam filter: cost).
//
// Collisions of 32-bit hashes are rare enough not to matter (two features in ~10,000
// share a slot in a million-feature model; both then count as one).

/** FNV-1a's offset basis: the state before any character. */
export const FNV_BASIS = 2166136261;

/** FNV-1a over the UTF-16 code units: a feature's identity in the counts and, folded, its logistic weight. */
export function tokenHash(feature: string): number {
  return fnvMore(FNV_BASIS, feature);
}

/**
 * FNV-1a continued from `state` (a hash so far) over `text`: fnvMore(tokenHash(a), b) is
 * tokenHash(a + b), so a tokenizer hashes "subject:" once and each word after it, and a
 * word pair from the first word's hash, without making the strings.
 */
export function fnvMore(state: number, text: string): number {
  let h = state;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

export interface TokenCount {
  spam: number;
  ham: number;
}

/** The counts as stored: parallel arrays, one entry per feature. */
export interface TokenColumns {
  hashes: Uint32Array;
  spam: Uint32Array;
  ham: Uint32Array;
  /** Days since 1970-01-01 (UTC) when the feature was last learned. */
  seen: Uint16Array;
}

const MIN_CAPACITY = 1024;
/** Slots used at most before the table doubles. */
const MAX_LOAD = 0.75;

export class TokenTable {
  #keys: Uint32Array;
  #spam: Uint32Array;
  #ham: Uint32Array;
  #seen: Uint16Array;
  #used: Uint8Array;
  #size = 0;

  constructor(capacity = MIN_CAPACITY) {
    let slots = MIN_CAPACITY;
    while (slots * MAX_LOAD < capacity) slots *= 2;
    this.#keys = new Uint32Array(slots);
    this.#spam = new Uint32Array(slots);
    this.#ham = new Uint32Array(slots);
    this.#seen = new Uint16Array(slots);
    this.#used = new Uint8Array(slots);
  }

  static fromColumns(columns: TokenColumns): TokenTable {
    const table = new TokenTable(columns.hashes.length);
    for (let i = 0; i < columns.hashes.length; i++) {
      const slot = table.#slot(columns.hashes[i]!, true);
      table.#spam[slot] = columns.spam[i]!;
      table.#ham[slot] = columns.ham[i]!;
      table.#seen[slot] = columns.seen[i]!;
    }
    return table;
  }

  get size(): number {
    return this.#size;
  }

  /** Octets the arrays take. */
  get bytes(): number {
    return this.#keys.length * 15;
  }

  get(hash: number): TokenCount | undefined {
    const slot = this.#slot(hash, false);
    if (slot < 0) return undefined;
    return { spam: this.#spam[slot]!, ham: this.#ham[slot]! };
  }

  /** Adds to a feature's counts (never below zero), marking it learned on `day`. */
  add(hash: number, spamDelta: number, hamDelta: number, day: number): void {
    if (spamDelta < 0 || hamDelta < 0) {
      const slot = this.#slot(hash, false);
      if (slot < 0) return;
      this.#spam[slot] = Math.max(0, this.#spam[slot]! + spamDelta);
      this.#ham[slot] = Math.max(0, this.#ham[slot]! + hamDelta);
      return;
    }
    const slot = this.#slot(hash, true);
    this.#spam[slot] = Math.min(0xffffffff, this.#spam[slot]! + spamDelta);
    this.#ham[slot] = Math.min(0xffffffff, this.#ham[slot]! + hamDelta);
    this.#seen[slot] = day;
  }

  /** Every feature with a count, in slot order. */
  columns(): TokenColumns {
    let n = 0;
    for (let slot = 0; slot < this.#keys.length; slot++) if (this.#used[slot] && this.#spam[slot]! + this.#ham[slot]! > 0) n++;
    const out: TokenColumns = { hashes: new Uint32Array(n), spam: new Uint32Array(n), ham: new Uint32Array(n), seen: new Uint16Array(n) };
    let i = 0;
    for (let slot = 0; slot < this.#keys.length; slot++) {
      if (!this.#used[slot] || this.#spam[slot]! + this.#ham[slot]! === 0) continue;
      out.hashes[i] = this.#keys[slot]!;
      out.spam[i] = this.#spam[slot]!;
      out.ham[i] = this.#ham[slot]!;
      out.seen[i] = this.#seen[slot]!;
      i++;
    }
    return out;
  }

  /** The columns of just these features (those it has), for saving what one message changed. */
  columnsOf(hashes: Iterable<number>): TokenColumns {
    const found: number[] = [];
    for (const hash of new Set(hashes)) {
      const slot = this.#slot(hash, false);
      if (slot >= 0) found.push(slot);
    }
    return {
      hashes: Uint32Array.from(found, (slot) => this.#keys[slot]!),
      spam: Uint32Array.from(found, (slot) => this.#spam[slot]!),
      ham: Uint32Array.from(found, (slot) => this.#ham[slot]!),
      seen: Uint16Array.from(found, (slot) => this.#seen[slot]!),
    };
  }

  /**
   * Keeps at most `max` features: the rarest go first (fewest messages), and of equally
   * rare ones the longest unseen. Returns how many were dropped.
   */
  prune(max: number): number {
    const all = this.columns();
    const n = all.hashes.length;
    if (n <= max) return 0;
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => all.spam[b]! + all.ham[b]! - (all.spam[a]! + all.ham[a]!) || all.seen[b]! - all.seen[a]!);
    const keep = order.slice(0, max);
    const kept = TokenTable.fromColumns({
      hashes: Uint32Array.from(keep, (i) => all.hashes[i]!),
      spam: Uint32Array.from(keep, (i) => all.spam[i]!),
      ham: Uint32Array.from(keep, (i) => all.ham[i]!),
      seen: Uint16Array.from(keep, (i) => all.seen[i]!),
    });
    this.#keys = kept.#keys;
    this.#spam = kept.#spam;
    this.#ham = kept.#ham;
    this.#seen = kept.#seen;
    this.#used = kept.#used;
    this.#size = kept.#size;
    return n - max;
  }

  /** The slot of `hash`, or -1; with `insert`, a new slot for it (growing the table past half full). */
  #slot(hash: number, insert: boolean): number {
    let mask = this.#keys.length - 1;
    let slot = Math.imul(hash, 0x9e3779b1) >>> 0 & mask;
    while (this.#used[slot]) {
      if (this.#keys[slot] === hash) return slot;
      slot = (slot + 1) & mask;
    }
    if (!insert) return -1;
    if (this.#size + 1 > this.#keys.length * MAX_LOAD) {
      this.#grow();
      mask = this.#keys.length - 1;
      slot = Math.imul(hash, 0x9e3779b1) >>> 0 & mask;
      while (this.#used[slot]) slot = (slot + 1) & mask;
    }
    this.#used[slot] = 1;
    this.#keys[slot] = hash;
    this.#size++;
    return slot;
  }

  #grow(): void {
    const old = { keys: this.#keys, spam: this.#spam, ham: this.#ham, seen: this.#seen, used: this.#used };
    const slots = old.keys.length * 2;
    this.#keys = new Uint32Array(slots);
    this.#spam = new Uint32Array(slots);
    this.#ham = new Uint32Array(slots);
    this.#seen = new Uint16Array(slots);
    this.#used = new Uint8Array(slots);
    const mask = slots - 1;
    for (let i = 0; i < old.keys.length; i++) {
      if (!old.used[i]) continue;
      let slot = Math.imul(old.keys[i]!, 0x9e3779b1) >>> 0 & mask;
      while (this.#used[slot]) slot = (slot + 1) & mask;
      this.#used[slot] = 1;
      this.#keys[slot] = old.keys[i]!;
      this.#spam[slot] = old.spam[i]!;
      this.#ham[slot] = old.ham[i]!;
      this.#seen[slot] = old.seen[i]!;
    }
  }
}

/** Today as days since 1970-01-01 UTC (the `seen` of learned features). */
export function dayOf(unixMs: number): number {
  return Math.floor(unixMs / 86_400_000);
}
