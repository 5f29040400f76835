// The MTA: port 25, inbound mail for the local domains from the internet.
//
// SECURITY: trusts nothing about the client. Offers no AUTH (submission belongs on
// 587/465: SPEC, the OP25B split). Accepts only recipients that reach a local user,
// unless the client is in relay.trusted_networks (empty by default). Every refusal
// happens inside the session, so nothing is ever bounced later (no backscatter).
// STANDARDS: RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 1870, RFC 6152, RFC 6531.
//
// Stages, in this fixed order (each sees only what exists at that point):
//   connect  access list, connection limits, DNSBL             (src/smtp/service.ts)
//   ehlo     syntax of the EHLO/HELO domain                    (src/smtp/session.ts)
//   mail     parameters, SIZE                                  (mail.ts)
//   rcpt     routing tricks, local recipient, relay            (rcpt.ts)
//   data     line endings, NUL, size, headers, hops            (data.ts)
//            then the intake pipeline's mta steps (src/intake/origins.ts: Received,
//            SPF/DKIM/DMARC/ARC/Sender ID with Authentication-Results on top), and the
//            MDA commits the plan before the 250                (src/mda)
import type { Logger } from 'pino';
import type { NetworkList } from '../policy/access/networks.ts';
import type { Intake } from '../intake/intake.ts';
import type { DraftWriter } from '../intake/draft-writer.ts';
import type { SmtpHandler } from '../smtp/session.ts';
import { accept, refuse } from '../smtp/verdict.ts';
import { checkMailFrom } from './mail.ts';
import { checkRecipient, type RcptAccounts, type RecipientRoute } from './rcpt.ts';
import { checkMessage } from './data.ts';
import { clientOf, envelopeRecipientsOf, recipientsOf } from './envelope.ts';

export interface MtaOptions {
  accounts: RcptAccounts;
  intake: Intake;
  trustedNetworks: NetworkList;
  maxMessageBytes: number;
  maxReceivedHeaders: number;
  /** Called when remote recipients were queued, to wake the outbound queue. */
  onQueued: () => void;
  logger: Logger;
}

export function createMtaHandler(options: MtaOptions): SmtpHandler<RecipientRoute, DraftWriter> {
  const { logger } = options;
  return {
    extensions: () => [],

    helo: async () => accept(undefined),

    mailFrom: (_session, path, params) => checkMailFrom(path, params, options.maxMessageBytes),

    rcptTo: async (session, _tx, path, postmaster, params) => {
      const verdict = await checkRecipient(path, postmaster, params, {
        accounts: options.accounts,
        mayRelay: options.trustedNetworks.includes(session.remoteAddress),
      });
      if (verdict.action !== 'accept') {
        logger.info(
          { session: session.id, remote: session.remoteAddress, rcpt: path?.raw ?? 'postmaster', reply: verdict.reply.code },
          'recipient refused',
        );
      }
      return verdict;
    },

    openMessage: () => options.intake.newDraft(),

    data: async (session, tx, message) => {
      const verdict = await checkMessage(message, options.maxReceivedHeaders);
      const from = tx.mailFrom?.address ?? '';
      const log = { session: session.id, queueId: message.queueId, remote: session.remoteAddress, from };
      if (verdict.action !== 'accept') {
        logger.info({ ...log, reply: verdict.reply.code, problem: message.problem }, 'message refused');
        return verdict;
      }
      const outcome = await options.intake.take({
        origin: 'mta',
        queueId: message.queueId,
        mailFrom: from,
        envelopeRecipients: envelopeRecipientsOf(tx),
        recipients: recipientsOf(tx),
        client: clientOf(session, null),
        content: await message.sink.finish(),
      });
      if (outcome.action !== 'accept') {
        logger.info({ ...log, reply: outcome.reply.code, step: outcome.step, ...outcome.notes }, `message refused by ${outcome.step}`);
        return refuse(outcome.reply);
      }
      if (outcome.result.queued > 0) options.onQueued();
      logger.info({ ...log, ...outcome.result, ...outcome.notes }, outcome.held ? 'message accepted and held whole in the quarantine' : 'message accepted');
      return accept(undefined);
    },
  };
}
