// The queue store, by role: what the outbound relay (src/queue/) and `kakitome queue`
// read, reschedule and remove. Rows are added only with a delivery (DeliveryStore).
//
// Every change is by row id or queue id and touches only the rows that still exist,
// so the server and the CLI (another process) can work on the queue at the same time.
// A message file is removed only after the commit, and only when nothing references it.
import type { Readable } from 'node:stream';
/** Who put mail in the queue: decides whether its sender may get a notice (no backscatter). */
export type QueueOrigin = 'mta' | 'msa';

export interface QueueRow {
  id: number;
  queueId: string;
  blob: string;
  size: number;
  /** '' for the null reverse-path. */
  mailFrom: string;
  recipient: string;
  origin: QueueOrigin;
  /** Unix ms. */
  createdAt: number;
  nextAttemptAt: number;
  attempts: number;
  lastError: string | null;
}

/** Rows per due() batch: a scheduler pass never loads the whole queue. */
export const DEFAULT_DUE_LIMIT = 1000;

export interface QueueStore {
  /** Rows whose next attempt is due at `now`, oldest due first. */
  due(now: number, limit?: number): Promise<QueueRow[]>;
  /** When the next row falls due (unix ms), if any row is queued. */
  nextDueAt(): Promise<number | undefined>;
  list(): Promise<QueueRow[]>;
  byQueueId(queueId: string): Promise<QueueRow[]>;
  /** Which of these rows still exist. */
  existing(ids: readonly number[]): Promise<QueueRow[]>;
  /** Counts an attempt and sets each row's next attempt and last error, durably; returns how many rows still existed. */
  reschedule(items: readonly { id: number; nextAttemptAt: number; error: string }[]): Promise<number>;
  /** Removes rows (delivered, bounced, expired or cancelled), durably, then unreferenced files. */
  remove(ids: readonly number[]): Promise<QueueRow[]>;
  /** Removes every row of a message (`queue cancel`); returns the rows removed. */
  removeMessage(queueId: string): Promise<QueueRow[]>;
  /** Makes the rows of one message (or all) due at `now`; returns how many rows. */
  retry(now: number, queueId?: string): Promise<number>;
  /** The queued message's content, for sending. */
  openContent(blob: string): Readable;
  /** The first `maxBytes` of the queued message's file (for the header of a notice); empty when the file is gone. */
  readStart(blob: string, maxBytes: number): Promise<Buffer>;
}
