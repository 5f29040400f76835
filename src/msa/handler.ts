// The MSA: ports 587 (STARTTLS, then AUTH) and 465 (implicit TLS), mail from the
// organisation's own users (RFC 6409).
//
// SECURITY: nothing is accepted without a known sender: SMTP AUTH (PLAIN, LOGIN) only
// inside TLS (538 5.7.11 before), or — only when [pop_before_smtp] is enabled — a
// recent POP3 login from the same client address. The envelope sender and the header
// From must be the user's own addresses. A per-user hourly limit bounds what a stolen
// password can send. Logins share the lockout with POP3. Content goes through the same
// smuggling-proof DATA reader as port 25, so nothing with a bare CR or LF leaves.
// STANDARDS: RFC 6409 (submission), RFC 4954 (AUTH), RFC 4616 (PLAIN), RFC 8314 (465).
//
// Stages, in order:
//   auth     AUTH PLAIN/LOGIN over TLS, lockout                    (here, src/auth/login.ts)
//   mail     authenticated or POP-before-SMTP; sender owned; rate; parameters
//   rcpt     routing tricks; local recipients must exist; any other domain is queued
//   data     line endings, size, header, hops                       (src/mta/data.ts)
//            then the intake pipeline's msa steps (src/intake/origins.ts: header From
//            owned, Date/Message-ID added, Received, DKIM signature), and the MDA
//            commits local copies and queues remote recipients after the hold window
import type { Logger } from 'pino';
import type { AccountStore, UserRecord } from '../store/accounts.ts';
import type { GrantStore } from '../store/grants.ts';
import type { AuthLockout } from '../policy/access/lockout.ts';
import { loginWithPassword } from '../auth/login.ts';
import type { Intake } from '../intake/intake.ts';
import type { DraftWriter } from '../intake/draft-writer.ts';
import { checkMailFrom } from '../mta/mail.ts';
import { checkRecipient, type RecipientRoute } from '../mta/rcpt.ts';
import { checkMessage } from '../mta/data.ts';
import { clientOf, envelopeRecipientsOf, recipientsOf } from '../mta/envelope.ts';
import type { SessionInfo, SmtpHandler } from '../smtp/session.ts';
import { REPLY } from '../smtp/replies.ts';
import { accept, refuse } from '../smtp/verdict.ts';
import type { SendRateLimiter } from './rate-limit.ts';
import { isOwned, ownedAddresses } from './senders.ts';

export interface MsaOptions {
  accounts: AccountStore;
  intake: Intake;
  lockout: AuthLockout;
  /** Present only when [pop_before_smtp] is enabled. */
  popBeforeSmtp: Pick<GrantStore, 'lookupPopLogin'> | undefined;
  rateLimiter: SendRateLimiter;
  /** outbound.hold: remote delivery of submitted mail waits this long (ms). */
  holdMs: number;
  maxMessageBytes: number;
  maxReceivedHeaders: number;
  /** Called when remote recipients were queued, to wake the outbound queue. */
  onQueued: () => void;
  logger: Logger;
}

interface Sender {
  user: UserRecord;
  owned: Set<string>;
  via: 'auth' | 'pop-before-smtp';
}

export function createMsaHandler(options: MsaOptions): SmtpHandler<RecipientRoute, DraftWriter> {
  const { accounts, logger } = options;
  // Who is sending in each session, fixed at MAIL for the rest of the transaction.
  const senders = new WeakMap<SessionInfo, Sender>();

  /** The user behind a session: AUTH first, else a POP-before-SMTP grant for the client address. */
  async function senderOf(session: SessionInfo): Promise<Sender | undefined> {
    if (session.authenticated) {
      const user = await accounts.getUserById(session.authenticated.userId);
      return user && { user, owned: await ownedAddresses(accounts, user), via: 'auth' };
    }
    const grant = await options.popBeforeSmtp?.lookupPopLogin(session.remoteAddress);
    const user = grant && (await accounts.getUserById(grant.userId));
    if (!user) return undefined;
    logger.info(
      { session: session.id, remote: session.remoteAddress, user: user.address, grantedAt: new Date(grant!.loggedInAt).toISOString() },
      'POP-before-SMTP used',
    );
    return { user, owned: await ownedAddresses(accounts, user), via: 'pop-before-smtp' };
  }

  return {
    extensions: (session) => (session.tls && !session.authenticated ? ['AUTH PLAIN LOGIN'] : []),

    helo: async () => accept(undefined),

    authenticate: async (session, username, password) => {
      const result = await loginWithPassword(accounts, options.lockout, session.remoteAddress, username, password);
      logger.info(
        { session: session.id, remote: session.remoteAddress, user: username, ok: result.ok, ...(result.ok ? {} : { reason: result.reason }) },
        'SMTP AUTH',
      );
      if (!result.ok) return refuse(result.reason === 'locked' ? REPLY.authLockedOut : REPLY.authFailed);
      return accept({ userId: result.user.id, address: result.user.address });
    },

    mailFrom: async (session, path, params) => {
      const sender = await senderOf(session);
      if (!sender) return refuse(REPLY.authRequired);
      // Users send mail, not bounces: the null sender is the MTA's alone.
      if (!path || path.sourceRoute || path.domainLiteral || !isOwned(sender.owned, path.address)) {
        logger.info({ session: session.id, user: sender.user.address, from: path?.raw ?? '' }, 'sender refused');
        return refuse(REPLY.senderNotOwned);
      }
      if (!options.rateLimiter.allows(sender.user.id)) {
        logger.warn({ session: session.id, user: sender.user.address }, 'submission rate limit reached');
        return refuse(REPLY.rateLimited);
      }
      const verdict = await checkMailFrom(path, params, options.maxMessageBytes);
      if (verdict.action === 'accept') senders.set(session, sender);
      return verdict;
    },

    rcptTo: (_session, _tx, path, postmaster, params) =>
      checkRecipient(path, postmaster, params, { accounts, mayRelay: true }),

    openMessage: () => options.intake.newDraft(),

    data: async (session, tx, message) => {
      const sender = senders.get(session);
      if (!sender) return refuse(REPLY.authRequired);
      const checked = await checkMessage(message, options.maxReceivedHeaders);
      if (checked.action !== 'accept') return checked;
      const log = { session: session.id, queueId: message.queueId, user: sender.user.address };
      const outcome = await options.intake.take({
        origin: 'msa',
        queueId: message.queueId,
        mailFrom: tx.mailFrom!.address,
        envelopeRecipients: envelopeRecipientsOf(tx),
        recipients: recipientsOf(tx),
        client: clientOf(session, { id: sender.user.id, address: sender.user.address, owned: sender.owned }),
        content: await message.sink.finish(),
        notBefore: Date.now() + options.holdMs,
      });
      if (outcome.action !== 'accept') {
        logger.info({ ...log, reply: outcome.reply.code, step: outcome.step }, `message refused by ${outcome.step}`);
        return refuse(outcome.reply);
      }
      options.rateLimiter.record(sender.user.id);
      logger.info({ ...log, via: sender.via, ...outcome.result, ...outcome.notes }, 'message submitted');
      if (outcome.result.queued > 0) options.onQueued();
      return accept(undefined);
    },
  };
}
