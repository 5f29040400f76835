// Local delivery: commits an accepted message file into every recipient user's INBOX
// and queues its remote recipients, in one durable transaction (group commit). Only
// this module writes mailboxes; the listeners hand it a written message file.
import type { Store } from '../store/store.ts';
import type { QueuedRecipient } from '../store/sqlite/messages.ts';

export interface AcceptedMessage {
  queueId: string;
  file: string;
  size: number;
  /** '' for the null reverse-path. */
  mailFrom: string;
  userIds: readonly number[];
  remote: readonly string[];
  origin: 'mta' | 'msa';
  /** First attempt for remote recipients not before this (unix ms). */
  notBefore?: number;
}

export interface DeliveryResult {
  mailboxes: number;
  queued: number;
}

/** Resolves once the message is durable in every mailbox and the queue: then, and only then, 250. */
export async function deliverAccepted(store: Store, message: AcceptedMessage): Promise<DeliveryResult> {
  const mailboxIds = [...new Set(message.userIds)].map((userId) => store.messages.ensureInbox(userId));
  const queued: QueuedRecipient[] = [...new Set(message.remote)].map((recipient) => ({
    queueId: message.queueId,
    mailFrom: message.mailFrom,
    recipient,
    origin: message.origin,
    notBefore: message.notBefore,
  }));
  await store.messages.commitDelivery(message.file, message.size, mailboxIds, queued);
  return { mailboxes: mailboxIds.length, queued: queued.length };
}

/** Users and remote addresses of a transaction's accepted recipients (aliases already expanded). */
export function recipientsOf(
  recipients: readonly { resolved: { kind: 'local'; local: { userIds: number[]; remote: string[] } } | { kind: 'remote'; address: string } }[],
): { userIds: number[]; remote: string[] } {
  const userIds: number[] = [];
  const remote: string[] = [];
  for (const { resolved } of recipients) {
    if (resolved.kind === 'local') {
      userIds.push(...resolved.local.userIds);
      remote.push(...resolved.local.remote);
    } else {
      remote.push(resolved.address);
    }
  }
  return { userIds, remote };
}
