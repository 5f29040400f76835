// Who may get a delivery status notification, and its delivery into their mailbox.
//
// SECURITY (no backscatter): a notice goes only to mail a local user submitted
// (origin 'msa') with a non-null sender that resolves to a local mailbox, and only
// into that mailbox — never out over SMTP. Mail relayed for trusted networks or
// forwarded by an alias (origin 'mta') is never bounced: its sender may be forged,
// and a bounce would hit an innocent third party (RFC 3834 §2, RFC 5321 §6.2 on
// null senders: a notice is never sent about a message with a null sender).
import { open } from 'node:fs/promises';
import { parseMailAddress } from '../mail/address.ts';
import { resolveLocalRecipient } from '../mda/recipients.ts';
import type { Store } from '../store/store.ts';
import type { QueueRow } from '../store/sqlite/queue.ts';
import { buildDsn, type DsnRecipient, headerSection, MAX_RETURNED_HEADER_BYTES } from './dsn.ts';

export type NoticeDecision =
  | { send: true; userIds: number[] }
  | { send: false; why: 'relayed mail (origin mta): no bounce' | 'null sender' | 'sender is not a local mailbox' };

export type NoticeResult = { sent: true; to: string } | { sent: false; why: string };

/** Whether the sender of a queued message may be told about it. */
export function noticeDecision(store: Pick<Store, 'accounts'>, row: Pick<QueueRow, 'origin' | 'mailFrom'>): NoticeDecision {
  if (row.origin !== 'msa') return { send: false, why: 'relayed mail (origin mta): no bounce' };
  if (row.mailFrom === '') return { send: false, why: 'null sender' };
  let address: string;
  try {
    address = parseMailAddress(row.mailFrom).address;
  } catch {
    return { send: false, why: 'sender is not a local mailbox' };
  }
  const local = resolveLocalRecipient(store.accounts, address);
  if (!local || local.userIds.length === 0) return { send: false, why: 'sender is not a local mailbox' };
  return { send: true, userIds: local.userIds };
}

export interface NoticeInput {
  kind: 'failed' | 'cancelled';
  hostname: string;
  /** Rows of one message (same queue id, sender and file). */
  rows: readonly QueueRow[];
  recipients: readonly DsnRecipient[];
  /** The original header, when the message file may be gone already; else read from it. */
  originalHeader?: Buffer;
}

/** Builds the notice and delivers it durably into the sender's mailbox, when allowed. */
export async function notifySender(store: Store, input: NoticeInput): Promise<NoticeResult> {
  const first = input.rows[0];
  if (!first || input.recipients.length === 0) return { sent: false, why: 'nothing to report' };
  const decision = noticeDecision(store, first);
  if (!decision.send) return { sent: false, why: decision.why };
  const dsn = buildDsn({
    kind: input.kind,
    hostname: input.hostname,
    sender: first.mailFrom,
    queueId: first.queueId,
    arrivalDate: new Date(first.createdAt),
    recipients: input.recipients,
    originalHeader: input.originalHeader ?? (await readHeader(store, first.blob)),
  });
  const mailboxIds = decision.userIds.map((userId) => store.messages.ensureInbox(userId));
  await store.messages.deliver(dsn, mailboxIds);
  return { sent: true, to: first.mailFrom };
}

/** The original header, read from the start of the message file only. */
export async function readHeader(store: Pick<Store, 'blobs'>, blob: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(store.blobs.path(blob), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw error;
  }
  try {
    const buffer = Buffer.alloc(MAX_RETURNED_HEADER_BYTES + 4);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return headerSection(buffer.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}
