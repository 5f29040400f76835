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
//            SPF, DKIM, DMARC, ARC, Sender ID → refuse, tempfail or accept (src/policy)
//            Authentication-Results on top; commit             (src/mda)
import type { Logger } from 'pino';
import type { Store } from '../store/store.ts';
import type { NetworkList } from '../policy/access/networks.ts';
import { deliverAccepted, recipientsOf } from '../mda/deliver.ts';
import type { SmtpHandler } from '../smtp/session.ts';
import { accept, refuse } from '../smtp/verdict.ts';
import { evaluateInbound, type InboundResults, type SenderAuthPolicy } from '../policy/sender-auth.ts';
import type { MailauthResolver } from '../policy/spf/resolver.ts';
import { removeOwnAuthResults } from '../policy/auth-results.ts';
import { fieldsNamed, parseHeaderSection } from '../mail/header.ts';

/** Marks mail that failed DMARC under p=quarantine, for filing as spam. */
export const QUARANTINE_FIELD = 'X-Kakitome-Quarantine';

/** Removes the fields only we may write: Authentication-Results naming us (RFC 8601 §5) and our quarantine mark. */
function removeForgedFields(content: Buffer, hostname: string): Buffer {
  const withoutResults = removeOwnAuthResults(content, hostname);
  const marks = fieldsNamed(parseHeaderSection(withoutResults), QUARANTINE_FIELD);
  if (marks.length === 0) return withoutResults;
  const pieces: Buffer[] = [];
  let offset = 0;
  for (const field of marks) {
    pieces.push(withoutResults.subarray(offset, field.start));
    offset = field.end;
  }
  pieces.push(withoutResults.subarray(offset));
  return Buffer.concat(pieces);
}

/** The results in one line each, for the log. */
function summariseAuth(results: InboundResults): Record<string, string> {
  return {
    spf: results.spf.result,
    dkim: results.dkim.map((d) => `${d.result}:${d.domain}:${d.algorithm}`).join(',') || 'none',
    dmarc: results.dmarc.result,
    arc: results.arc.result,
    ...(results.senderId ? { senderId: results.senderId.result } : {}),
  };
}
import { checkMailFrom } from './mail.ts';
import { checkRecipient, type RecipientRoute } from './rcpt.ts';
import { checkMessage } from './data.ts';

export interface MtaOptions {
  store: Store;
  /** Our host name: the authserv-id of Authentication-Results. */
  hostname: string;
  senderAuth: SenderAuthPolicy;
  resolver: MailauthResolver;
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
      // Sender authentication (SPF, DKIM, DMARC, ARC, Sender ID) on the client's bytes;
      // our verdict goes on top, and nobody else's claim to speak for this host survives.
      const content = await message.content();
      const auth = await evaluateInbound(
        {
          message: content,
          ip: session.remoteAddress,
          helo: session.helo!.domain,
          mailFrom: from,
          authservId: options.hostname,
          resolver: options.resolver,
        },
        options.senderAuth,
        { onError: (err) => logger.warn({ session: session.id, queueId: message.queueId, err }, 'sender authentication failed') },
      );
      const authLog = summariseAuth(auth.results);
      if (auth.decision.action !== 'accept') {
        const { code, enhanced, text } = auth.decision;
        logger.info(
          { session: session.id, queueId: message.queueId, remote: session.remoteAddress, from, reply: code, auth: authLog },
          'message refused by sender authentication',
        );
        return refuse({ code, enhanced, text });
      }
      const cleaned = removeForgedFields(content, options.hostname);
      const quarantine = auth.decision.quarantine ? `${QUARANTINE_FIELD}: ${auth.decision.reason ?? 'DMARC p=quarantine'}\r\n` : '';
      const stored = await message.store(auth.authenticationResults + quarantine, cleaned === content ? undefined : cleaned);
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
        { session: session.id, queueId: message.queueId, remote: session.remoteAddress, from, size: stored.size, auth: authLog, quarantine: auth.decision.quarantine, ...result },
        'message accepted',
      );
      return accept(undefined);
    },
  };
}
