// What an SMTP transaction hands to the intake: who sends, to whom (aliases already
// expanded at RCPT), and what the session knows of the client. Shared by MTA and MSA.
import type { ClientInfo, IntakeMessage } from '../intake/intake.ts';
import type { SessionInfo, Transaction } from '../smtp/session.ts';
import type { RecipientRoute } from './rcpt.ts';

/** Users and remote addresses of a transaction's accepted recipients. */
export function recipientsOf(tx: Transaction<RecipientRoute>): IntakeMessage['recipients'] {
  const userIds: number[] = [];
  const remote: string[] = [];
  for (const { resolved } of tx.recipients) {
    if (resolved.kind === 'local') {
      userIds.push(...resolved.local.userIds);
      remote.push(...resolved.local.remote);
    } else {
      remote.push(resolved.address);
    }
  }
  return { userIds, remote };
}

/** The envelope recipients as the client gave them (RCPT TO:<Postmaster> as 'postmaster'). */
export function envelopeRecipientsOf(tx: Transaction<RecipientRoute>): string[] {
  return tx.recipients.map((r) => r.path?.address ?? 'postmaster');
}

export function clientOf(session: SessionInfo, user: ClientInfo['user']): ClientInfo {
  return {
    address: session.remoteAddress,
    helo: session.helo!.domain,
    esmtp: session.helo!.esmtp,
    tls: session.tls,
    smtpAuth: session.authenticated !== null,
    user,
  };
}
