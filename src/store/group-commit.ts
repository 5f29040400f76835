// Group commit: concurrent writers share one directory fsync per touched directory and
// one sqlite transaction (one WAL fsync) per batch, instead of paying for their own.
//
// Batching is natural, without timers: items that arrive while a batch is being
// committed form the next batch, which starts as soon as the previous one finishes.
// A batch is: prepare (e.g. fsync the directories of its new files), then BEGIN
// IMMEDIATE, each item applied inside its own SAVEPOINT, COMMIT, an fdatasync of the
// WAL off the main thread (commitDurably), then every caller is settled. An item whose apply() throws is rolled back alone and only its caller is
// rejected; if prepare or the transaction itself fails, the whole batch is rolled
// back and every caller is rejected with a BatchCommitError.
import { performance } from 'node:perf_hooks';
import { type Db, commitDurably } from './sqlite/db.ts';

export const DEFAULT_MAX_BATCH_SIZE = 256;

export interface GroupCommitOptions<T, R> {
  db: Db;
  /** Applies one item inside the batch transaction. Synchronous, so nothing else runs mid-transaction. */
  apply: (item: T) => R;
  /** Runs before the transaction; a failure fails the whole batch. */
  prepare?: (items: readonly T[]) => Promise<void>;
  maxBatchSize?: number;
}

export interface GroupCommitStats {
  batches: number;
  items: number;
  failedBatches: number;
  largestBatch: number;
  prepareMs: number;
  transactionMs: number;
}

/** The batch an item belonged to could not be committed; `cause` holds the reason. */
export class BatchCommitError extends Error {}

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

type Outcome<R> = { ok: true; result: R } | { ok: false; error: unknown };

export class GroupCommitter<T, R> {
  readonly #db: Db;
  readonly #apply: (item: T) => R;
  readonly #prepare: (items: readonly T[]) => Promise<void>;
  readonly #maxBatchSize: number;
  #queue: Pending<T, R>[] = [];
  #draining: Promise<void> | undefined;
  readonly #stats: GroupCommitStats = {
    batches: 0,
    items: 0,
    failedBatches: 0,
    largestBatch: 0,
    prepareMs: 0,
    transactionMs: 0,
  };

  constructor(options: GroupCommitOptions<T, R>) {
    this.#db = options.db;
    this.#apply = options.apply;
    this.#prepare = options.prepare ?? (async () => {});
    this.#maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
    if (!(this.#maxBatchSize >= 1)) throw new RangeError('maxBatchSize must be at least 1');
  }

  /** Resolves with apply(item)'s result once the batch holding the item is committed. */
  commit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#draining ??= this.#drain();
    });
  }

  /** Resolves when nothing is queued or being committed. */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  get stats(): Readonly<GroupCommitStats> {
    return { ...this.#stats };
  }

  async #drain(): Promise<void> {
    // Yield once so that writers finishing in the same turn of the event loop share the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      await this.#commitBatch(this.#queue.splice(0, this.#maxBatchSize));
    }
    this.#draining = undefined;
  }

  async #commitBatch(batch: Pending<T, R>[]): Promise<void> {
    const items = batch.map((pending) => pending.item);
    let outcomes: Outcome<R>[];
    try {
      const prepareStart = performance.now();
      await this.#prepare(items);
      const transactionStart = performance.now();
      // transaction() would nest as a savepoint: callers would be told "durable" before any COMMIT.
      if (this.#db.isTransaction) throw new Error('group commit found a transaction already open');
      outcomes = await commitDurably(this.#db, () => items.map((item) => this.#applyInSavepoint(item)));
      this.#stats.prepareMs += transactionStart - prepareStart;
      this.#stats.transactionMs += performance.now() - transactionStart;
    } catch (err) {
      this.#stats.failedBatches++;
      const error = new BatchCommitError(`group commit of ${batch.length} item(s) failed`, { cause: err });
      for (const pending of batch) pending.reject(error);
      return;
    }
    this.#stats.batches++;
    this.#stats.items += batch.length;
    this.#stats.largestBatch = Math.max(this.#stats.largestBatch, batch.length);
    batch.forEach((pending, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) pending.resolve(outcome.result);
      else pending.reject(outcome.error);
    });
  }

  #applyInSavepoint(item: T): Outcome<R> {
    this.#db.exec('SAVEPOINT group_commit_item');
    try {
      const result = this.#apply(item);
      this.#db.exec('RELEASE group_commit_item');
      return { ok: true, result };
    } catch (error) {
      // If undoing the item fails, the transaction is in doubt: let it fail the whole batch.
      this.#db.exec('ROLLBACK TO group_commit_item');
      this.#db.exec('RELEASE group_commit_item');
      return { ok: false, error };
    }
  }
}
