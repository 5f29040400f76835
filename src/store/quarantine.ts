// The quarantine store, by role: mail the content filters took out of a message's way —
// the original of a message whose infected part was replaced (antivirus `replace`),
// whose blocked attachment was stripped (attachments `strip`), which a rescan at
// retrieval found infected, or which the spam filter held. Entries are added only by
// the MDA (DeliveryStore.commitDelivery, replaceContent); `kakitome quarantine` lists,
// shows, releases and deletes them, and `serve` deletes those older than
// [quarantine] keep.
//
// An entry keeps what `release` needs to deliver the message as it arrived: its origin
// (which steps sign it again), its envelope sender and its planned recipients.
import type { QueueOrigin } from './queue.ts';

/** Which filter took it. */
export type QuarantineReason = 'virus' | 'attachment' | 'spam';
export const QUARANTINE_REASONS: readonly QuarantineReason[] = ['virus', 'attachment', 'spam'];

/** Where a release delivers: local users by id (INBOX) and remote addresses. */
export interface QuarantineRecipients {
  users: number[];
  remote: string[];
}

/** What the MDA records with a quarantined message's content. */
export interface QuarantineRecord {
  /** The id `kakitome quarantine` shows: the message's queue id, or a fresh one (rescans). */
  quarantineId: string;
  reason: QuarantineReason;
  /** What was found, e.g. "clamd: Eicar-Signature" or "invoice.pdf.exe". */
  detail: string;
  /** True when the recipients got a copy with the part replaced; false when it was held whole. */
  delivered: boolean;
  origin: QueueOrigin;
  /** '' for the null reverse-path. */
  mailFrom: string;
  recipients: QuarantineRecipients;
}

export interface QuarantinedMessage extends QuarantineRecord {
  blob: string;
  size: number;
  /** Unix ms. */
  createdAt: number;
}

export class UnknownQuarantineError extends Error {}

export interface QuarantineStore {
  /** Every entry, oldest first. */
  list(): Promise<QuarantinedMessage[]>;
  get(quarantineId: string): Promise<QuarantinedMessage | undefined>;
  /** The quarantined content. */
  read(entry: Pick<QuarantinedMessage, 'blob'>): Promise<Buffer>;
  /** Its first `maxBytes` octets (for its header). */
  readStart(entry: Pick<QuarantinedMessage, 'blob'>, maxBytes: number): Promise<Buffer>;
  /** Deletes one entry durably (and its content, unless a mailbox copy shares it); false if there was none. */
  remove(quarantineId: string): Promise<boolean>;
  /** Deletes the entries created before `before` (unix ms); returns how many. */
  expire(before: number): Promise<number>;
}
