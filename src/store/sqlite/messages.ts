// Mailbox messages: one blob file per delivery plus one `messages` row per recipient
// mailbox. Rows and files keep one invariant: a row never exists without its file.
// Delivery writes and fsyncs the file before its rows are committed; expunge commits
// the deletion before it removes files. A crash in between leaves only an orphan file,
// which collectOrphanBlobs() removes at startup.
import type { ReadStream } from 'node:fs';
import type { StatementSync } from 'node:sqlite';
import { type BlobStore, newBlobName } from '../blobs.ts';
import { BatchCommitError, type GroupCommitStats, GroupCommitter } from '../group-commit.ts';
import { type Db, transaction } from './db.ts';

export const INBOX = 'INBOX';
/** Orphan collection leaves younger files alone: they may belong to a delivery still in flight elsewhere. */
export const DEFAULT_ORPHAN_MIN_AGE_MS = 15 * 60_000;

export interface StoredMessage {
  id: number;
  mailboxId: number;
  uid: number;
  /** POP3 UIDL (RFC 1939 §7): 26 lower-case base32 characters, unique and stable forever. */
  uidl: string;
  size: number;
  flags: number;
  /** Unix milliseconds. */
  receivedAt: number;
}

export type DeliveredMessage = Omit<StoredMessage, 'flags'>;

/** The part of the account store that user removal needs (AccountStore in accounts.ts). */
export interface UserRemover {
  /** Deletes the user in one transaction, calling beforeDelete inside it. */
  removeUser<T>(address: string, beforeDelete: (user: { id: number }) => T): { value: T; aliasLinksRemoved: number };
}

export class UnknownMailboxError extends Error {}
export class UnknownMessageError extends Error {}

/** A remote recipient of an accepted message, kept for the outbound queue. */
export interface QueuedRecipient {
  queueId: string;
  mailFrom: string;
  recipient: string;
  origin: 'mta' | 'msa';
  /** First delivery attempt not before this (unix ms): the hold window of submitted mail. */
  notBefore?: number;
}

interface Delivery {
  blob: string;
  size: number;
  mailboxIds: readonly number[];
  queued: readonly QueuedRecipient[];
  receivedAt: number;
}

interface MessageRow {
  id: number;
  mailbox_id: number;
  uid: number;
  uidl: string;
  size: number;
  flags: number;
  received_at: number;
}

const MESSAGE_COLUMNS = 'id, mailbox_id, uid, uidl, size, flags, received_at';

export class MessageStore {
  readonly #db: Db;
  readonly #blobs: BlobStore;
  readonly #committer: GroupCommitter<Delivery, DeliveredMessage[]>;
  /** Blobs written or being written whose rows are not committed yet: never orphans. */
  readonly #inFlight = new Set<string>();
  readonly #takeNextUid: StatementSync;
  readonly #insertMessage: StatementSync;
  readonly #referencesBlob: StatementSync;
  readonly #blobOfMessage: StatementSync;
  readonly #insertQueued: StatementSync;
  #selectInbox: StatementSync | undefined;

  constructor(db: Db, blobs: BlobStore, options: { maxBatchSize?: number } = {}) {
    this.#db = db;
    this.#blobs = blobs;
    this.#takeNextUid = db.prepare(
      'UPDATE mailboxes SET next_uid = next_uid + 1 WHERE id = ? RETURNING next_uid - 1 AS uid',
    );
    this.#insertMessage = db.prepare(
      'INSERT INTO messages (mailbox_id, uid, uidl, blob, size, received_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#referencesBlob = db.prepare(
      'SELECT 1 FROM messages WHERE blob = ?1 UNION ALL SELECT 1 FROM queue WHERE blob = ?1 LIMIT 1',
    );
    this.#insertQueued = db.prepare(
      `INSERT INTO queue (queue_id, blob, size, mail_from, recipient, origin, created_at, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#blobOfMessage = db.prepare('SELECT blob FROM messages WHERE id = ?');
    this.#committer = new GroupCommitter<Delivery, DeliveredMessage[]>({
      db,
      prepare: (deliveries) => blobs.syncDirs(deliveries.map((delivery) => delivery.blob)),
      apply: (delivery) => this.#insertRows(delivery),
      ...options,
    });
  }

  /** The id of the user's INBOX, created on first use (only then is anything written). */
  ensureInbox(userId: number): number {
    const select = (this.#selectInbox ??= this.#db.prepare('SELECT id FROM mailboxes WHERE user_id = ? AND name = ?'));
    const existing = select.get(userId, INBOX) as { id: number } | undefined;
    if (existing) return existing.id;
    this.#db
      .prepare(
        `INSERT INTO mailboxes (user_id, name, uid_validity) VALUES (?, ?, ?)
         ON CONFLICT (user_id, name) DO NOTHING`,
      )
      .run(userId, INBOX, Math.floor(Date.now() / 1000));
    return (select.get(userId, INBOX) as { id: number }).id;
  }

  /**
   * Stores one message in every given mailbox: one shared file, one row per mailbox.
   * Resolves only when the message is durable (file, directory entry and rows fsynced),
   * i.e. when it is safe to answer 250.
   */
  async deliver(
    content: Buffer | Uint8Array | AsyncIterable<Uint8Array>,
    mailboxIds: readonly number[],
  ): Promise<DeliveredMessage[]> {
    const name = this.newMessageFile();
    try {
      const { size } = await this.#blobs.write(content, name);
      return await this.commitDelivery(name, size, mailboxIds);
    } catch (err) {
      await this.abandonMessageFile(name, err);
      throw err;
    }
  }

  /**
   * The name of a new message file, protected from orphan collection until its
   * delivery is committed or abandoned. Write it with `blobs.write(content, name)`.
   */
  newMessageFile(): string {
    const name = newBlobName();
    this.#inFlight.add(name);
    return name;
  }

  /**
   * Commits a written (fsynced) message file: one row per mailbox and one queue row
   * per remote recipient, all in one transaction, shared with concurrent deliveries
   * (group commit). Resolves when durable; the file is then no longer in flight.
   */
  async commitDelivery(
    name: string,
    size: number,
    mailboxIds: readonly number[],
    queued: readonly QueuedRecipient[] = [],
  ): Promise<DeliveredMessage[]> {
    if (mailboxIds.length === 0 && queued.length === 0) throw new RangeError('a delivery needs a mailbox or a queued recipient');
    if (new Set(mailboxIds).size !== mailboxIds.length) throw new RangeError('a delivery got a mailbox twice');
    const delivered = await this.#committer.commit({ blob: name, size, mailboxIds: [...mailboxIds], queued, receivedAt: Date.now() });
    this.#inFlight.delete(name);
    return delivered;
  }

  /** Gives up a message file that was not (or not surely) committed. */
  async abandonMessageFile(name: string, reason?: unknown): Promise<void> {
    // After a failed COMMIT the rows may still have reached the disk (an fsync error
    // leaves it in doubt), so only orphan collection, which checks the rows, may remove the file.
    try {
      if (!(reason instanceof BatchCommitError)) await this.#blobs.remove(name).catch(() => {});
    } finally {
      this.#inFlight.delete(name);
    }
  }

  /** Messages of a mailbox in uid order. */
  list(mailboxId: number): StoredMessage[] {
    const rows = this.#db
      .prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = ? ORDER BY uid`)
      .all(mailboxId) as unknown as MessageRow[];
    return rows.map(toStoredMessage);
  }

  get(id: number): StoredMessage | undefined {
    const row = this.#db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = ?`).get(id) as
      | MessageRow
      | undefined;
    return row && toStoredMessage(row);
  }

  openContent(id: number): ReadStream {
    return this.#blobs.open(this.#blobOf(id));
  }

  async readContent(id: number): Promise<Buffer> {
    return this.#blobs.read(this.#blobOf(id));
  }

  /** The content of a message listed with its size (POP3 RETR): one read of exactly that many octets. */
  async readListedContent(message: Pick<StoredMessage, 'id' | 'size'>): Promise<Buffer> {
    return this.#blobs.readKnownSize(this.#blobOf(message.id), message.size);
  }

  /**
   * Deletes messages of one mailbox in one durable transaction (ids of other mailboxes
   * are ignored), then removes the files no row references any more.
   */
  async expunge(mailboxId: number, ids: readonly number[]): Promise<void> {
    // Nested in a caller's transaction, the files would go before the rows are committed.
    if (this.#db.isTransaction) throw new Error('expunge() must not run inside an open transaction');
    const deleteMessage = this.#db.prepare('DELETE FROM messages WHERE mailbox_id = ? AND id = ? RETURNING blob');
    const freed = transaction(this.#db, () => {
      const blobs = new Set<string>();
      for (const id of ids) {
        const row = deleteMessage.get(mailboxId, id) as { blob: string } | undefined;
        if (row) blobs.add(row.blob);
      }
      return this.#unreferenced(blobs);
    });
    await this.removeBlobs(freed);
  }

  /**
   * Deletes every mailbox of a user and their messages, and returns the blob names no
   * row references any more. Inside the caller's open transaction (user removal) it
   * nests as a savepoint, else it runs in its own. Pass the result to removeBlobs()
   * only after the commit: removing files first could leave rows without files.
   */
  removeMailboxesOfUser(userId: number): string[] {
    return transaction(this.#db, () => {
      const rows = this.#db
        .prepare(
          `DELETE FROM messages WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = ?)
           RETURNING blob`,
        )
        .all(userId) as { blob: string }[];
      this.#db.prepare('DELETE FROM mailboxes WHERE user_id = ?').run(userId);
      return this.#unreferenced(new Set(rows.map((row) => row.blob)));
    });
  }

  /** Removes a user with their mailboxes and messages, then the files only they referenced. */
  async removeUser(address: string, accounts: UserRemover): Promise<{ aliasLinksRemoved: number; blobsRemoved: number }> {
    const { value: freed, aliasLinksRemoved } = accounts.removeUser(address, (user) =>
      this.removeMailboxesOfUser(user.id),
    );
    await this.removeBlobs(freed);
    return { aliasLinksRemoved, blobsRemoved: freed.length };
  }

  /** Removes blob files whose rows are already deleted and committed. */
  async removeBlobs(names: Iterable<string>): Promise<void> {
    await Promise.all([...names].map((name) => this.#blobs.remove(name)));
  }

  /**
   * Removes blob files that no row references, left behind by a crash between an
   * expunge's commit and its file removal, or during a delivery. Files younger than
   * minAgeMs and blobs of this process's deliveries in flight are kept, because their
   * rows may not be committed yet. Returns the names removed.
   */
  async collectOrphanBlobs(options: { minAgeMs?: number } = {}): Promise<string[]> {
    const minAgeMs = options.minAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS;
    const removed: string[] = [];
    for await (const entry of this.#blobs.entries()) {
      if (Date.now() - entry.mtimeMs < minAgeMs) continue;
      // Checked together, synchronously: a delivery leaves #inFlight only after its rows are committed.
      if (this.#inFlight.has(entry.name) || this.#referencesBlob.get(entry.name)) continue;
      if (await this.#blobs.remove(entry.name)) removed.push(entry.name);
    }
    return removed;
  }

  /** Resolves when no delivery is waiting for its commit (for shutdown). */
  idle(): Promise<void> {
    return this.#committer.idle();
  }

  get commitStats(): Readonly<GroupCommitStats> {
    return this.#committer.stats;
  }

  #insertRows(delivery: Delivery): DeliveredMessage[] {
    for (const q of delivery.queued) {
      const firstAttempt = Math.max(q.notBefore ?? delivery.receivedAt, delivery.receivedAt);
      this.#insertQueued.run(q.queueId, delivery.blob, delivery.size, q.mailFrom, q.recipient, q.origin, delivery.receivedAt, firstAttempt);
    }
    return delivery.mailboxIds.map((mailboxId) => {
      const row = this.#takeNextUid.get(mailboxId) as { uid: number } | undefined;
      if (!row) throw new UnknownMailboxError(`no mailbox with id ${mailboxId}`);
      // A fresh id rather than the blob name: the UIDL must stay stable even if the file is rewritten.
      const uidl = newBlobName();
      const { lastInsertRowid } = this.#insertMessage.run(
        mailboxId,
        row.uid,
        uidl,
        delivery.blob,
        delivery.size,
        delivery.receivedAt,
      );
      return {
        id: Number(lastInsertRowid),
        mailboxId,
        uid: row.uid,
        uidl,
        size: delivery.size,
        receivedAt: delivery.receivedAt,
      };
    });
  }

  #unreferenced(blobs: Set<string>): string[] {
    return [...blobs].filter((blob) => !this.#referencesBlob.get(blob));
  }

  #blobOf(id: number): string {
    const row = this.#blobOfMessage.get(id) as { blob: string } | undefined;
    if (!row) throw new UnknownMessageError(`no message with id ${id}`);
    return row.blob;
  }
}

function toStoredMessage(row: MessageRow): StoredMessage {
  return {
    id: row.id,
    mailboxId: row.mailbox_id,
    uid: row.uid,
    uidl: row.uidl,
    size: row.size,
    flags: row.flags,
    receivedAt: row.received_at,
  };
}
