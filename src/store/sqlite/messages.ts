// The mailbox and delivery stores on sqlite (src/store/mailboxes.ts and
// deliveries.ts are the contracts): one content per message variant (in the database
// or a message file: src/store/sqlite/contents.ts) plus one `messages` row per mailbox
// copy. Rows and content keep one invariant: a row never exists without its content.
// Delivery writes and fsyncs a file before its rows are committed, and inserts
// database content in the same transaction; expunge deletes database content with the
// rows and commits the deletion before it removes files. A crash in between leaves
// only an orphan file, which collectOrphans() removes at startup.
import type { Readable } from 'node:stream';
import type { StatementSync } from 'node:sqlite';
import { type Delivery, DeliveryRows } from './delivery-rows.ts';
import type { MessageContents } from './contents.ts';
import { BatchCommitError, type GroupCommitStats, GroupCommitter } from '../group-commit.ts';
import { type Db, commitDurably, transaction } from './db.ts';
import { INBOX, type MailboxStore, type StoredMessage, UnknownMailboxError, UnknownMessageError } from '../mailboxes.ts';
import type { CommitOptions, DeliveredCopy, DeliveryPart, DeliveryStore, QuarantineRecord } from '../deliveries.ts';

/** Orphan collection leaves younger files alone: they may belong to a delivery still in flight elsewhere. */
export const DEFAULT_ORPHAN_MIN_AGE_MS = 15 * 60_000;

interface MessageRow {
  id: number;
  mailbox_id: number;
  uid: number;
  uidl: string;
  size: number;
  flags: number;
  keywords: string;
  received_at: number;
  scanned_with: string;
}

const MESSAGE_COLUMNS = 'id, mailbox_id, uid, uidl, size, flags, keywords, received_at, scanned_with';

interface Committed {
  copies: DeliveredCopy[][];
  /** Files of a released quarantine entry that nothing references any more: removed after the commit. */
  freedFiles: string[];
}

/** Messages deleted per transaction by expireFolder(). */
const EXPIRE_BATCH = 500;

export class SqliteMessageStore implements MailboxStore, DeliveryStore {
  readonly #db: Db;
  readonly #contents: MessageContents;
  readonly #committer: GroupCommitter<Delivery, Committed>;
  /** Blobs written or being written whose rows are not committed yet: never orphans. */
  readonly #inFlight = new Set<string>();
  readonly #blobOfMessage: StatementSync;
  readonly #rows: DeliveryRows;

  constructor(db: Db, contents: MessageContents, options: { maxBatchSize?: number } = {}) {
    this.#db = db;
    this.#contents = contents;
    this.#rows = new DeliveryRows(db);
    this.#blobOfMessage = db.prepare('SELECT blob FROM messages WHERE id = ?');
    this.#committer = new GroupCommitter<Delivery, Committed>({
      db,
      prepare: (deliveries) => contents.syncFiles(deliveries.flatMap((delivery) => delivery.parts.map((part) => part.file))),
      apply: (delivery) => {
        const copies = this.#rows.insert(delivery, (name) => contents.pendingContent(name));
        const freedFiles = delivery.release === undefined ? [] : contents.unreferenced([this.#rows.release(delivery.release)]).files;
        return { copies, freedFiles };
      },
      ...options,
    });
  }

  /** The id of a user's mailbox, created when missing (inside the caller's transaction, if any). */
  createMailbox(userId: number, name = INBOX): number {
    return this.#rows.createMailbox(userId, name);
  }

  async findMailbox(userId: number, name = INBOX): Promise<number | undefined> {
    return this.#rows.findMailbox(userId, name);
  }

  /**
   * The name of a new message file, protected from orphan collection until its
   * delivery is committed or abandoned. Write it with writeMessageFile().
   */
  newMessageFile(): string {
    const name = this.#contents.newName();
    this.#inFlight.add(name);
    return name;
  }

  async writeMessageFile(name: string, content: Buffer | Uint8Array | AsyncIterable<Uint8Array>): Promise<{ size: number }> {
    return this.#contents.write(name, content);
  }

  openMessageFile(name: string, range?: { start: number; end: number }): Readable {
    return this.#contents.open(name, range);
  }

  async commitDelivery(parts: readonly DeliveryPart[], options: CommitOptions = {}): Promise<DeliveredCopy[][]> {
    if (parts.length === 0) throw new RangeError('a delivery needs at least one message file');
    for (const part of parts) {
      if (part.copies.length === 0 && part.queued.length === 0 && !part.quarantine) {
        throw new RangeError('a delivery needs a mailbox, a queued recipient or a quarantine entry');
      }
      const mailboxes = new Set(part.copies.map((copy) => `${copy.userId}\0${copy.folder}`));
      if (mailboxes.size !== part.copies.length) throw new RangeError('a delivery got a mailbox twice');
    }
    const committed = await this.#committer.commit({ parts, receivedAt: Date.now(), ...(options.release === undefined ? {} : { release: options.release }) });
    for (const part of parts) {
      this.#inFlight.delete(part.file);
      this.#contents.forget(part.file);
    }
    await this.#contents.removeFiles(committed.freedFiles);
    return committed.copies;
  }

  async replaceContent(messageId: number, replacement: { file: string; size: number; scannedWith: string }, quarantine: QuarantineRecord): Promise<boolean> {
    if (this.#db.isTransaction) throw new Error('replaceContent() must not run inside an open transaction');
    try {
      await this.#contents.syncFiles([replacement.file]);
      const replaced = await commitDurably(this.#db, () =>
        this.#rows.replaceContent(messageId, replacement, quarantine, this.#contents.pendingContent(replacement.file), Date.now()),
      );
      if (!replaced) await this.#contents.abandon(replacement.file, true);
      return replaced;
    } catch (error) {
      // The commit may have reached the disk (an fsync error leaves it in doubt): only orphan collection removes the file.
      await this.#contents.abandon(replacement.file, false);
      throw error;
    } finally {
      this.#inFlight.delete(replacement.file);
      this.#contents.forget(replacement.file);
    }
  }

  async recordScan(messageIds: readonly number[], scannedWith: string): Promise<void> {
    if (messageIds.length === 0) return;
    const update = this.#db.prepare('UPDATE messages SET scanned_with = ? WHERE id = ?');
    await commitDurably(this.#db, () => {
      for (const id of messageIds) update.run(scannedWith, id);
    });
  }

  /** Gives up a message file that was not (or not surely) committed. */
  async abandonMessageFile(name: string, reason?: unknown): Promise<void> {
    // After a failed COMMIT the rows may still have reached the disk (an fsync error
    // leaves it in doubt), so only orphan collection, which checks the rows, may remove the file.
    try {
      await this.#contents.abandon(name, !(reason instanceof BatchCommitError));
    } finally {
      this.#inFlight.delete(name);
    }
  }

  async listMessages(mailboxId: number): Promise<StoredMessage[]> {
    const rows = this.#db
      .prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = ? ORDER BY uid`)
      .all(mailboxId) as unknown as MessageRow[];
    return rows.map(toStoredMessage);
  }

  async getMessage(id: number): Promise<StoredMessage | undefined> {
    const row = this.#db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = ?`).get(id) as
      | MessageRow
      | undefined;
    return row && toStoredMessage(row);
  }

  async openMessage(id: number): Promise<Readable> {
    return this.#contents.open(this.#blobOf(id));
  }

  async readMessage(id: number): Promise<Buffer> {
    return this.#contents.read(this.#blobOf(id));
  }

  async readListedMessage(message: Pick<StoredMessage, 'id' | 'size'>): Promise<Buffer> {
    return this.#contents.readKnownSize(this.#blobOf(message.id), message.size);
  }

  async expunge(mailboxId: number, ids: readonly number[]): Promise<void> {
    // Nested in a caller's transaction, the files would go before the rows are committed.
    if (this.#db.isTransaction) throw new Error('expunge() must not run inside an open transaction');
    const deleteMessage = this.#db.prepare('DELETE FROM messages WHERE mailbox_id = ? AND id = ? RETURNING blob');
    const { files } = transaction(this.#db, () => {
      const blobs = new Set<string>();
      for (const id of ids) {
        const row = deleteMessage.get(mailboxId, id) as { blob: string } | undefined;
        if (row) blobs.add(row.blob);
      }
      return this.#contents.unreferenced(blobs);
    });
    await this.removeBlobs(files);
  }

  async move(userId: number, fromMailboxId: number, ids: readonly number[], toName: string): Promise<number> {
    const moveOne = this.#db.prepare('UPDATE messages SET mailbox_id = ?, uid = ? WHERE id = ? AND mailbox_id = ?');
    const owned = this.#db.prepare('SELECT 1 FROM mailboxes WHERE id = ? AND user_id = ?');
    const present = this.#db.prepare('SELECT 1 FROM messages WHERE id = ? AND mailbox_id = ?');
    return commitDurably(this.#db, () => {
      if (!owned.get(fromMailboxId, userId)) throw new UnknownMailboxError(`no mailbox ${fromMailboxId} of user ${userId}`);
      const target = this.#rows.createMailbox(userId, toName);
      if (target === fromMailboxId) return 0;
      let moved = 0;
      for (const id of ids) {
        // Only a message that is there takes a UID in the target (UIDs are never reused).
        if (present.get(id, fromMailboxId)) moved += Number(moveOne.run(target, this.#rows.takeUid(target), id, fromMailboxId).changes);
      }
      return moved;
    });
  }

  async expireFolder(name: string, before: number): Promise<number> {
    const oldest = this.#db.prepare(
      `SELECT m.id, m.mailbox_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
        WHERE b.name = ? AND m.received_at < ? ORDER BY m.received_at LIMIT ?`,
    );
    let total = 0;
    for (;;) {
      const rows = oldest.all(name, before, EXPIRE_BATCH) as { id: number; mailbox_id: number }[];
      const byMailbox = new Map<number, number[]>();
      for (const row of rows) byMailbox.set(row.mailbox_id, [...(byMailbox.get(row.mailbox_id) ?? []), row.id]);
      for (const [mailboxId, ids] of byMailbox) await this.expunge(mailboxId, ids);
      total += rows.length;
      if (rows.length < EXPIRE_BATCH) return total;
    }
  }

  /**
   * Deletes every mailbox of a user and their messages, and returns the blob names no
   * row references any more. Inside the caller's open transaction (user removal,
   * SqliteAccountStore) it nests as a savepoint, else it runs in its own. Pass the
   * result to removeBlobs() only after the commit: removing files first could leave
   * rows without files.
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
      return this.#contents.unreferenced(rows.map((row) => row.blob)).freed;
    });
  }

  /** Removes message files whose rows are already deleted and committed. */
  async removeBlobs(names: Iterable<string>): Promise<void> {
    await this.#contents.removeFiles(names);
  }

  /**
   * Removes blob files that no row references, left behind by a crash between an
   * expunge's commit and its file removal, or during a delivery. Files younger than
   * minAgeMs and blobs of this process's deliveries in flight are kept, because their
   * rows may not be committed yet. Returns the names removed.
   */
  async collectOrphans(options: { minAgeMs?: number } = {}): Promise<string[]> {
    const minAgeMs = options.minAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS;
    const removed: string[] = [];
    this.#contents.collectUnreferenced();
    for await (const entry of this.#contents.files()) {
      if (Date.now() - entry.mtimeMs < minAgeMs) continue;
      // Checked together, synchronously: a delivery leaves #inFlight only after its rows are committed.
      if (this.#inFlight.has(entry.name) || this.#contents.isReferenced(entry.name)) continue;
      if (await this.#contents.removeFile(entry.name)) removed.push(entry.name);
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
    keywords: row.keywords === '' ? [] : row.keywords.split(' '),
    receivedAt: row.received_at,
    scannedWith: row.scanned_with,
  };
}
