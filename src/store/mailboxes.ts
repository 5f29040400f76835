// The mailbox store, by role: what the retrieval roles (POP3, later IMAP) read, and
// the deletions they make. Adding messages is not here: only src/mda/ delivers, through
// the DeliveryStore (deliveries.ts).
import type { Readable } from 'node:stream';

export const INBOX = 'INBOX';
/** Where junk is filed (RFC 6154 \Junk once IMAP serves folders); POP3 shows INBOX only. */
export const JUNK = 'Junk';

/** System flags (RFC 9051 §2.3.2) as bits of StoredMessage.flags. */
export const MESSAGE_FLAGS = {
  '\\Seen': 1,
  '\\Answered': 2,
  '\\Flagged': 4,
  '\\Deleted': 8,
  '\\Draft': 16,
} as const;
export type MessageFlag = keyof typeof MESSAGE_FLAGS;

/**
 * StoredMessage.scannedWith of a message the administrator released from the quarantine:
 * a rescan at retrieval leaves it alone (it would only quarantine it again).
 */
export const RELEASED_UNSCANNED = 'released from the quarantine';

export interface StoredMessage {
  id: number;
  mailboxId: number;
  uid: number;
  /** POP3 UIDL (RFC 1939 §7): 26 lower-case base32 characters, unique and stable forever. */
  uidl: string;
  size: number;
  /** System flags as a bit set (MESSAGE_FLAGS in deliveries.ts). */
  flags: number;
  /** Keywords (IMAP) / tags set at delivery. */
  keywords: string[];
  /** Unix milliseconds. */
  receivedAt: number;
  /** What the antivirus engines scanned it with ('' when not recorded). */
  scannedWith: string;
}

export class UnknownMailboxError extends Error {}
export class UnknownMessageError extends Error {}

export interface MailboxStore {
  /** The id of a user's mailbox, or undefined while nothing was ever delivered to it. */
  findMailbox(userId: number, name?: string): Promise<number | undefined>;
  /** Messages of a mailbox in uid order. */
  listMessages(mailboxId: number): Promise<StoredMessage[]>;
  getMessage(id: number): Promise<StoredMessage | undefined>;
  readMessage(id: number): Promise<Buffer>;
  /** The content of a message listed with its size (POP3 RETR): one read of exactly that many octets. */
  readListedMessage(message: Pick<StoredMessage, 'id' | 'size'>): Promise<Buffer>;
  openMessage(id: number): Promise<Readable>;
  /**
   * Deletes messages of one mailbox in one durable transaction (ids of other mailboxes
   * are ignored), then removes the files no row references any more.
   */
  expunge(mailboxId: number, ids: readonly number[]): Promise<void>;
  /**
   * Deletes the messages of every user's mailbox called `name` (Junk) that arrived before
   * `before` (unix ms), in bounded durable batches; returns how many went.
   */
  expireFolder(name: string, before: number): Promise<number>;
  /**
   * Moves messages of one of a user's mailboxes to another of theirs (created when
   * missing), in one durable transaction; each gets the next UID there and keeps its
   * UIDL. Ids not in `fromMailboxId` are ignored; returns how many moved.
   */
  move(userId: number, fromMailboxId: number, ids: readonly number[], toName: string): Promise<number>;
}
