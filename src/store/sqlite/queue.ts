// The queue store on sqlite (src/store/queue.ts is the contract): one row per remote
// recipient of an accepted message, sharing the message file with its local copies.
// Rows are written by SqliteMessageStore.commitDelivery; this module reads,
// reschedules and removes them.
import type { Readable } from 'node:stream';
import type { StatementSync } from 'node:sqlite';
import type { MessageContents } from './contents.ts';
import { commitDurably, type Db } from './db.ts';
import { DEFAULT_DUE_LIMIT, type QueueRow, type QueueStore } from '../queue.ts';
import type { QueueOrigin } from '../queue.ts';

interface Row {
  id: number;
  queue_id: string;
  blob: string;
  size: number;
  mail_from: string;
  recipient: string;
  origin: QueueOrigin;
  created_at: number;
  next_attempt_at: number;
  attempts: number;
  last_error: string | null;
}

const COLUMNS = 'id, queue_id, blob, size, mail_from, recipient, origin, created_at, next_attempt_at, attempts, last_error';

export class SqliteQueueStore implements QueueStore {
  readonly #db: Db;
  readonly #contents: MessageContents;
  readonly #deleteRow: StatementSync;

  constructor(db: Db, contents: MessageContents) {
    this.#db = db;
    this.#contents = contents;
    this.#deleteRow = db.prepare(`DELETE FROM queue WHERE id = ? RETURNING ${COLUMNS}`);
  }

  /** Rows whose next attempt is due at `now`, oldest due first. */
  async due(now: number, limit = DEFAULT_DUE_LIMIT): Promise<QueueRow[]> {
    return this.#select(`WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, now, limit);
  }

  /** When the next row falls due (unix ms); undefined for an empty queue. */
  async nextDueAt(): Promise<number | undefined> {
    const row = this.#db.prepare('SELECT MIN(next_attempt_at) AS at FROM queue').get() as { at: number | null };
    return row.at ?? undefined;
  }

  /** Every row, message by message (oldest first), recipients in insertion order. */
  async list(): Promise<QueueRow[]> {
    return this.#select('ORDER BY created_at, queue_id, id');
  }

  /** The rows of one message; empty when the id is unknown. */
  async byQueueId(queueId: string): Promise<QueueRow[]> {
    return this.#select('WHERE queue_id = ? ORDER BY id', queueId);
  }

  /** The rows among ids that still exist. */
  async existing(ids: readonly number[]): Promise<QueueRow[]> {
    const select = this.#db.prepare(`SELECT ${COLUMNS} FROM queue WHERE id = ?`);
    return ids.flatMap((id) => {
      const row = select.get(id) as Row | undefined;
      return row ? [toQueueRow(row)] : [];
    });
  }

  /**
   * Temporary failures: each row gets one more attempt counted, its next attempt time
   * and its last error. Returns how many of the rows still existed.
   */
  async reschedule(items: readonly { id: number; nextAttemptAt: number; error: string }[]): Promise<number> {
    const update = this.#db.prepare(
      'UPDATE queue SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?',
    );
    return commitDurably(this.#db, () =>
      items.reduce((count, item) => count + Number(update.run(item.nextAttemptAt, item.error, item.id).changes), 0),
    );
  }

  /**
   * Removes rows (delivered, bounced, expired or cancelled), durably, then the message
   * files nothing references any more. Returns the rows that were still there.
   */
  async remove(ids: readonly number[]): Promise<QueueRow[]> {
    const { removed, files } = await commitDurably(this.#db, () => {
      const removed = ids.flatMap((id) => {
        const row = this.#deleteRow.get(id) as Row | undefined;
        return row ? [toQueueRow(row)] : [];
      });
      return { removed, files: this.#unreferenced(removed) };
    });
    await this.#removeFiles(files);
    return removed;
  }

  /** Removes every row of a message (`queue cancel`); returns the rows removed. */
  async removeMessage(queueId: string): Promise<QueueRow[]> {
    const { removed, files } = await commitDurably(this.#db, () => {
      const rows = this.#db.prepare(`DELETE FROM queue WHERE queue_id = ? RETURNING ${COLUMNS}`).all(queueId) as unknown as Row[];
      const removed = rows.map(toQueueRow).sort((a, b) => a.id - b.id);
      return { removed, files: this.#unreferenced(removed) };
    });
    await this.#removeFiles(files);
    return removed;
  }

  /**
   * Makes the rows of one message (or all rows, without a queue id) due at `now` —
   * held mail included; rows already due keep their place. Returns how many rows.
   */
  async retry(now: number, queueId?: string): Promise<number> {
    const result =
      queueId === undefined
        ? this.#db.prepare('UPDATE queue SET next_attempt_at = MIN(next_attempt_at, ?1)').run(now)
        : this.#db.prepare('UPDATE queue SET next_attempt_at = MIN(next_attempt_at, ?1) WHERE queue_id = ?2').run(now, queueId);
    return Number(result.changes);
  }

  openContent(blob: string): Readable {
    return this.#contents.open(blob);
  }

  async readStart(blob: string, maxBytes: number): Promise<Buffer> {
    return this.#contents.readStart(blob, maxBytes);
  }

  #select(clause: string, ...params: (string | number)[]): QueueRow[] {
    const rows = this.#db.prepare(`SELECT ${COLUMNS} FROM queue ${clause}`).all(...params) as unknown as Row[];
    return rows.map(toQueueRow);
  }

  /** Inside the deleting transaction: frees the content of removed rows that nothing references now; returns its files (removed after the commit). */
  #unreferenced(removed: readonly QueueRow[]): string[] {
    return this.#contents.unreferenced(removed.map((row) => row.blob)).files;
  }

  async #removeFiles(names: readonly string[]): Promise<void> {
    await this.#contents.removeFiles(names);
  }
}

function toQueueRow(row: Row): QueueRow {
  return {
    id: row.id,
    queueId: row.queue_id,
    blob: row.blob,
    size: row.size,
    mailFrom: row.mail_from,
    recipient: row.recipient,
    origin: row.origin,
    createdAt: row.created_at,
    nextAttemptAt: row.next_attempt_at,
    attempts: row.attempts,
    lastError: row.last_error,
  };
}
