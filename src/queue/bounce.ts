// Who may get a delivery status notification, and its delivery into their mailbox.
//
// SECURITY (no backscatter): a notice goes only to mail a local user submitted
// (origin 'msa') with a non-null sender that resolves to a local mailbox, and only
// into that mailbox — never out over SMTP. Mail relayed for trusted networks or
// forwarded by an alias (origin 'mta') is never bounced: its sender may be forged,
// and a bounce would hit an innocent third party (RFC 3834 §2, RFC 5321 §6.2 on
// null senders: a notice is never sent about a message with a null sender).
import { randomHex } from '../mail/random-id.ts';
import { parseMailAddress } from '../mail/address.ts';
import { resolveLocalRecipient } from '../intake/recipients.ts';
import type { Intake } from '../intake/intake.ts';
import type { AccountStore } from '../store/accounts.ts';
import type { QueueRow, QueueStore } from '../store/queue.ts';
import { buildDsn, type DsnRecipient, headerSection, MAX_RETURNED_HEADER_BYTES } from './dsn.ts';

export type NoticeDecision =
  | { send: true; userIds: number[] }
  | { send: false; why: 'relayed mail (origin mta): no bounce' | 'null sender' | 'sender is not a local mailbox' };

export type NoticeResult = { sent: true; to: string } | { sent: false; why: string };

/** What sending a notice needs: who is local, the queued files' headers, and the way in. */
export interface NoticeServices {
  accounts: Pick<AccountStore, 'getUser' | 'getAlias' | 'isLocalDomain'>;
  queue: Pick<QueueStore, 'readStart'>;
  intake: Pick<Intake, 'take'>;
}

/** Whether the sender of a queued message may be told about it. */
export async function noticeDecision(
  accounts: NoticeServices['accounts'],
  row: Pick<QueueRow, 'origin' | 'mailFrom'>,
): Promise<NoticeDecision> {
  if (row.origin !== 'msa') return { send: false, why: 'relayed mail (origin mta): no bounce' };
  if (row.mailFrom === '') return { send: false, why: 'null sender' };
  let address: string;
  try {
    address = parseMailAddress(row.mailFrom).address;
  } catch {
    return { send: false, why: 'sender is not a local mailbox' };
  }
  const local = await resolveLocalRecipient(accounts, address);
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

/**
 * Builds the notice and takes it in through the intake pipeline (origin `notice`),
 * which delivers it durably into the sender's mailbox — never out over SMTP.
 */
export async function notifySender(services: NoticeServices, input: NoticeInput): Promise<NoticeResult> {
  const first = input.rows[0];
  if (!first || input.recipients.length === 0) return { sent: false, why: 'nothing to report' };
  const decision = await noticeDecision(services.accounts, first);
  if (!decision.send) return { sent: false, why: decision.why };
  const dsn = buildDsn({
    kind: input.kind,
    hostname: input.hostname,
    sender: first.mailFrom,
    queueId: first.queueId,
    arrivalDate: new Date(first.createdAt),
    recipients: input.recipients,
    originalHeader: input.originalHeader ?? (await readHeader(services.queue, first.blob)),
  });
  const outcome = await services.intake.take({
    origin: 'notice',
    queueId: randomHex(8),
    // RFC 3464 §2 / RFC 5321 §4.5.5: a notice has the null reverse-path.
    mailFrom: '',
    envelopeRecipients: [first.mailFrom],
    recipients: { userIds: decision.userIds, remote: [] },
    client: null,
    content: dsn,
  });
  if (outcome.action !== 'accept') return { sent: false, why: `refused by ${outcome.step}: ${outcome.reply.text}` };
  return { sent: true, to: first.mailFrom };
}

/** The original header, read from the start of the message file only (empty when the file is gone). */
export async function readHeader(queue: Pick<QueueStore, 'readStart'>, blob: string): Promise<Buffer> {
  return headerSection(await queue.readStart(blob, MAX_RETURNED_HEADER_BYTES + 4));
}
