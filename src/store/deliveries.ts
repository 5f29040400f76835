// The delivery store, by role: the one way messages enter mailboxes and the outbound
// queue. Only src/mda/ holds it (the folder rules test checks the imports; the
// composition root hands it to nobody else).
//
// A message is durable — and only then may anyone answer 250 — when its file has been
// written and fsynced and its rows committed. Rows never exist without their file: the
// file is written first, the rows after; a crash in between leaves an orphan file,
// which collectOrphans() removes at the next start.
import type { Readable } from 'node:stream';

import { MESSAGE_FLAGS, type MessageFlag } from './mailboxes.ts';
import type { QueueOrigin } from './queue.ts';
import type { QuarantineRecord } from './quarantine.ts';

export { MESSAGE_FLAGS, type MessageFlag, type QueueOrigin, type QuarantineRecord };

/** A copy for one local user: which mailbox (created on first delivery), which flags. */
export interface MailboxCopy {
  userId: number;
  folder: string;
  flags: readonly MessageFlag[];
  keywords: readonly string[];
}

/** A remote recipient of an accepted message, kept for the outbound queue. */
export interface QueuedRecipient {
  queueId: string;
  /** '' for the null reverse-path. */
  mailFrom: string;
  recipient: string;
  origin: QueueOrigin;
  /** First delivery attempt not before this (unix ms): the hold window of submitted mail. */
  notBefore?: number;
}

/** One written message file and the copies, queue entries and quarantine entry it becomes. */
export interface DeliveryPart {
  file: string;
  size: number;
  copies: readonly MailboxCopy[];
  queued: readonly QueuedRecipient[];
  /** The file is (also) a quarantined original. */
  quarantine?: QuarantineRecord;
  /** What the antivirus engines scanned it with (messages.scanned_with), for rescans at retrieval. */
  scannedWith?: string;
}

export interface CommitOptions {
  /** A quarantine entry this delivery releases: removed in the same transaction, or the delivery fails (UnknownQuarantineError). */
  release?: string;
}

export interface DeliveredCopy {
  id: number;
  userId: number;
  mailboxId: number;
  uid: number;
  uidl: string;
}

export interface DeliveryStore {
  /**
   * The name of a new message file, protected from orphan collection until it is
   * committed or abandoned. Also used for a scratch copy of a large message in transit.
   */
  newMessageFile(): string;
  /** Writes and fdatasyncs a reserved file (O_EXCL); resolves with its size. */
  writeMessageFile(name: string, content: Buffer | Uint8Array | AsyncIterable<Uint8Array>): Promise<{ size: number }>;
  /** Reads back (part of) a reserved file: a scratch copy in transit. */
  openMessageFile(name: string, range?: { start: number; end: number }): Readable;
  /**
   * Commits written files: one row per mailbox copy (the mailbox is created when
   * missing) and one queue row per remote recipient, all parts in one transaction
   * shared with concurrent deliveries (group commit). Resolves when durable; the
   * files are then the store's.
   */
  commitDelivery(parts: readonly DeliveryPart[], options?: CommitOptions): Promise<DeliveredCopy[][]>;
  /**
   * Points a stored message at new, written content (a rescan's notice) and keeps its
   * old content in the quarantine, in one durable transaction. False when the message
   * is gone (expunged meanwhile): nothing changed, the new file is given up.
   */
  replaceContent(messageId: number, replacement: { file: string; size: number; scannedWith: string }, quarantine: QuarantineRecord): Promise<boolean>;
  /** Records what scanned the messages (a clean rescan), durably. */
  recordScan(messageIds: readonly number[], scannedWith: string): Promise<void>;
  /** Gives up a reserved file that was not (or not surely) committed. */
  abandonMessageFile(name: string, reason?: unknown): Promise<void>;
  /** Removes message files that no row references (left by a crash); returns their names. */
  collectOrphans(options?: { minAgeMs?: number }): Promise<string[]>;
  /** Resolves when no delivery is waiting for its commit (for shutdown). */
  idle(): Promise<void>;
}
