// The MTA: port 25, inbound mail for the local domains from the internet.
//
// SECURITY: trusts nothing about the client. Offers no AUTH (submission belongs on
// 587/465: SPEC, the OP25B split). Accepts only recipients that reach a local user,
// unless the client is in relay.trusted_networks (empty by default). Every refusal
// happens inside the session, so nothing is ever bounced later (no backscatter).
// STANDARDS: RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 1870, RFC 6152, RFC 6531.
//
// Stages, in this fixed order (each sees only what exists at that point):
//   connect  access list of the listener, connection limits   (src/smtp/service.ts)
//   ehlo     syntax of the EHLO/HELO domain                    (src/smtp/session.ts)
//   mail     parameters, SIZE                                  (mail.ts)
//   rcpt     routing tricks, local recipient, relay            (rcpt.ts)
//   data     line endings, NUL, size, headers, hops; commit    (data.ts, src/mda)
import type { Logger } from 'pino';
import type { Store } from '../store/store.ts';
import type { NetworkList } from '../policy/access/networks.ts';
import { deliverAccepted, recipientsOf } from '../mda/deliver.ts';
import type { SmtpHandler } from '../smtp/session.ts';
import { accept } from '../smtp/verdict.ts';
import { checkMailFrom } from './mail.ts';
import { checkRecipient, type RecipientRoute } from './rcpt.ts';
import { checkMessage } from './data.ts';

export interface MtaOptions {
  store: Store;
  trustedNetworks: NetworkList;
  maxMessageBytes: number;
  maxReceivedHeaders: number;
  /** Called when remote recipients were queued, to wake the outbound queue. */
  onQueued: () => void;
  logger: Logger;
}

export function createMtaHandler(options: MtaOptions): SmtpHandler<RecipientRoute> {
  const { store, logger } = options;
  return {
    extensions: () => [],

    helo: async () => accept(undefined),

    mailFrom: (_session, path, params) => checkMailFrom(path, params, options.maxMessageBytes),

    rcptTo: async (session, _tx, path, postmaster, params) => {
      const verdict = await checkRecipient(path, postmaster, params, {
        accounts: store.accounts,
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

    data: async (session, tx, message) => {
      const verdict = await checkMessage(message, options.maxReceivedHeaders);
      const from = tx.mailFrom?.address ?? '';
      if (verdict.action !== 'accept') {
        logger.info(
          { session: session.id, queueId: message.queueId, remote: session.remoteAddress, from, reply: verdict.reply.code, problem: message.problem },
          'message refused',
        );
        return verdict;
      }
      const stored = await message.store('');
      const result = await deliverAccepted(store, {
        queueId: message.queueId,
        file: stored.file,
        size: stored.size,
        mailFrom: from,
        ...recipientsOf(tx.recipients),
        origin: 'mta',
      });
      message.committed(stored.file);
      if (result.queued > 0) options.onQueued();
      logger.info(
        { session: session.id, queueId: message.queueId, remote: session.remoteAddress, from, size: stored.size, ...result },
        'message accepted',
      );
      return accept(undefined);
    },
  };
}
