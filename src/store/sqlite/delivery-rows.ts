// The rows one delivery adds, inside the batch transaction of the group commit: a
// `messages` row per mailbox copy (the mailbox created when missing), a `queue` row per
// remote recipient, a `quarantine` row for a quarantined original, and the content when
// it goes into the database (src/store/sqlite/contents.ts); the quarantine row a release
// takes out. Kept apart from the message store so that whoever
// commits deliveries (today the group commit on the main thread) inserts exactly these
// rows and nothing else.
import type { StatementSync } from 'node:sqlite';
import { newBlobName } from '../blobs.ts';
import type { Db } from './db.ts';
import { INBOX, UnknownMailboxError } from '../mailboxes.ts';
import { type DeliveredCopy, type DeliveryPart, MESSAGE_FLAGS, type MailboxCopy } from '../deliveries.ts';
import { type QuarantineRecord, UnknownQuarantineError } from '../quarantine.ts';

/** sqlite's extended result code for a FOREIGN KEY violation. */
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;

export interface Delivery {
  parts: readonly DeliveryPart[];
  receivedAt: number;
  /** The quarantine entry this delivery releases. */
  release?: string;
}

export class DeliveryRows {
  readonly #takeNextUid: StatementSync;
  readonly #insertMessage: StatementSync;
  readonly #insertQueued: StatementSync;
  readonly #insertContent: StatementSync;
  readonly #selectMailbox: StatementSync;
  readonly #insertMailbox: StatementSync;
  readonly #insertQuarantine: StatementSync;
  readonly #deleteQuarantine: StatementSync;
  readonly #selectContentOf: StatementSync;
  readonly #pointAt: StatementSync;

  constructor(db: Db) {
    this.#takeNextUid = db.prepare('UPDATE mailboxes SET next_uid = next_uid + 1 WHERE id = ? RETURNING next_uid - 1 AS uid');
    this.#insertMessage = db.prepare(
      'INSERT INTO messages (mailbox_id, uid, uidl, blob, size, flags, keywords, received_at, scanned_with) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#insertQuarantine = db.prepare(
      `INSERT INTO quarantine (quarantine_id, blob, size, reason, detail, delivered, origin, mail_from, recipients, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#deleteQuarantine = db.prepare('DELETE FROM quarantine WHERE quarantine_id = ? RETURNING blob');
    this.#selectContentOf = db.prepare('SELECT blob, size FROM messages WHERE id = ?');
    this.#pointAt = db.prepare('UPDATE messages SET blob = ?, size = ?, scanned_with = ? WHERE id = ?');
    this.#insertQueued = db.prepare(
      `INSERT INTO queue (queue_id, blob, size, mail_from, recipient, origin, created_at, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertContent = db.prepare('INSERT INTO message_contents (name, content) VALUES (?, ?)');
    this.#selectMailbox = db.prepare('SELECT id FROM mailboxes WHERE user_id = ? AND name = ?');
    this.#insertMailbox = db.prepare(
      `INSERT INTO mailboxes (user_id, name, uid_validity) VALUES (?, ?, ?)
       ON CONFLICT (user_id, name) DO NOTHING`,
    );
  }

  /** The id of a user's mailbox, or undefined. */
  findMailbox(userId: number, name = INBOX): number | undefined {
    return (this.#selectMailbox.get(userId, name) as { id: number } | undefined)?.id;
  }

  /** The id of a user's mailbox, created when missing (inside the caller's transaction, if any). */
  createMailbox(userId: number, name = INBOX): number {
    const existing = this.findMailbox(userId, name);
    if (existing !== undefined) return existing;
    try {
      this.#insertMailbox.run(userId, name, Math.floor(Date.now() / 1000));
    } catch (err) {
      // The user is gone (removed while the message was in transit): no mailbox to create.
      if ((err as { errcode?: number }).errcode === SQLITE_CONSTRAINT_FOREIGNKEY) throw new UnknownMailboxError(`no user with id ${userId}`);
      throw err;
    }
    return this.findMailbox(userId, name)!;
  }

  /** The next UID of a mailbox (RFC 9051 §2.3.1.1: strictly ascending, never reused). */
  takeUid(mailboxId: number): number {
    return (this.#takeNextUid.get(mailboxId) as { uid: number }).uid;
  }

  /** Inserts a delivery's rows; `contentOf(name)` is a part's content when it goes into the database. */
  insert(delivery: Delivery, contentOf: (name: string) => Uint8Array | undefined): DeliveredCopy[][] {
    return delivery.parts.map((part) => {
      for (const q of part.queued) {
        const firstAttempt = Math.max(q.notBefore ?? delivery.receivedAt, delivery.receivedAt);
        this.#insertQueued.run(q.queueId, part.file, part.size, q.mailFrom, q.recipient, q.origin, delivery.receivedAt, firstAttempt);
      }
      const content = contentOf(part.file);
      if (content !== undefined) this.#insertContent.run(part.file, content);
      if (part.quarantine) this.#quarantine(part.quarantine, part.file, part.size, delivery.receivedAt);
      return part.copies.map((copy) => this.#insertCopy(part, copy, delivery.receivedAt));
    });
  }

  /** Takes a released entry out of the quarantine; returns its content's name (now perhaps unreferenced). */
  release(quarantineId: string): string {
    const row = this.#deleteQuarantine.get(quarantineId) as { blob: string } | undefined;
    if (!row) throw new UnknownQuarantineError(`no quarantined message ${quarantineId} (released or deleted meanwhile)`);
    return row.blob;
  }

  /**
   * Points message `messageId` at the written `file` and quarantines its old content;
   * false when the message is gone. `content` is the file's content when it goes into the database.
   */
  replaceContent(
    messageId: number,
    replacement: { file: string; size: number; scannedWith: string },
    quarantine: QuarantineRecord,
    content: Uint8Array | undefined,
    now: number,
  ): boolean {
    const old = this.#selectContentOf.get(messageId) as { blob: string; size: number } | undefined;
    if (!old) return false;
    if (content !== undefined) this.#insertContent.run(replacement.file, content);
    this.#pointAt.run(replacement.file, replacement.size, replacement.scannedWith, messageId);
    this.#quarantine(quarantine, old.blob, old.size, now);
    return true;
  }

  #quarantine(record: QuarantineRecord, blob: string, size: number, now: number): void {
    this.#insertQuarantine.run(
      record.quarantineId,
      blob,
      size,
      record.reason,
      record.detail,
      record.delivered ? 1 : 0,
      record.origin,
      record.mailFrom,
      JSON.stringify({ users: record.recipients.users, remote: record.recipients.remote }),
      now,
    );
  }

  #insertCopy(part: DeliveryPart, copy: MailboxCopy, receivedAt: number): DeliveredCopy {
    const mailboxId = this.createMailbox(copy.userId, copy.folder);
    const row = this.#takeNextUid.get(mailboxId) as { uid: number } | undefined;
    if (!row) throw new UnknownMailboxError(`no mailbox with id ${mailboxId}`);
    // A fresh id rather than the blob name: the UIDL must stay stable even if the file is rewritten.
    const uidl = newBlobName();
    const flags = copy.flags.reduce((bits, flag) => bits | MESSAGE_FLAGS[flag], 0);
    const { lastInsertRowid } = this.#insertMessage.run(
      mailboxId, row.uid, uidl, part.file, part.size, flags, copy.keywords.join(' '), receivedAt, part.scannedWith ?? '',
    );
    return { id: Number(lastInsertRowid), userId: copy.userId, mailboxId, uid: row.uid, uidl };
  }
}
