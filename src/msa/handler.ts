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
//   data     line endings, size, header, hops; header From owned; Date/Message-ID added;
//            local copies committed, remote recipients queued after the hold window
import type { Logger } from 'pino';
import type { Store } from '../store/store.ts';
import type { UserRecord } from '../store/sqlite/accounts.ts';
import type { AuthLockout } from '../policy/access/lockout.ts';
import { loginWithPassword } from '../auth/login.ts';
import { deliverAccepted, recipientsOf } from '../mda/deliver.ts';
import { checkMailFrom } from '../mta/mail.ts';
import { checkRecipient, type RecipientRoute } from '../mta/rcpt.ts';
import { checkMessage } from '../mta/data.ts';
import type { SessionInfo, SmtpHandler } from '../smtp/session.ts';
import { REPLY } from '../smtp/replies.ts';
import { accept, refuse } from '../smtp/verdict.ts';
import type { PopBeforeSmtpRegistry } from './pop-before-smtp.ts';
import type { SendRateLimiter } from './rate-limit.ts';
import { isOwned, ownedAddresses } from './senders.ts';
import { checkSubmittedHeader } from './data.ts';
import { signMessage, signingDomainFor } from '../policy/dkim/sign.ts';
import { fieldsNamed, parseHeaderSection } from '../mail/header.ts';

export interface MsaOptions {
  store: Store;
  hostname: string;
  lockout: AuthLockout;
  /** Present only when [pop_before_smtp] is enabled. */
  popBeforeSmtp: PopBeforeSmtpRegistry | undefined;
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

export function createMsaHandler(options: MsaOptions): SmtpHandler<RecipientRoute> {
  const { store, logger } = options;
  // Who is sending in each session, fixed at MAIL for the rest of the transaction.
  const senders = new WeakMap<SessionInfo, Sender>();

  /** The user behind a session: AUTH first, else a POP-before-SMTP grant for the client address. */
  function senderOf(session: SessionInfo): Sender | undefined {
    if (session.authenticated) {
      const user = store.accounts.getUserById(session.authenticated.userId);
      return user && { user, owned: ownedAddresses(store.accounts, user), via: 'auth' };
    }
    const grant = options.popBeforeSmtp?.lookup(session.remoteAddress);
    const user = grant && store.accounts.getUserById(grant.userId);
    if (!user) return undefined;
    logger.info(
      { session: session.id, remote: session.remoteAddress, user: user.address, grantedAt: new Date(grant!.loggedInAt).toISOString() },
      'POP-before-SMTP used',
    );
    return { user, owned: ownedAddresses(store.accounts, user), via: 'pop-before-smtp' };
  }

  return {
    extensions: (session) => (session.tls && !session.authenticated ? ['AUTH PLAIN LOGIN'] : []),

    helo: async () => accept(undefined),

    authenticate: async (session, username, password) => {
      const result = await loginWithPassword(store.accounts, options.lockout, session.remoteAddress, username, password);
      logger.info(
        { session: session.id, remote: session.remoteAddress, user: username, ok: result.ok, ...(result.ok ? {} : { reason: result.reason }) },
        'SMTP AUTH',
      );
      if (!result.ok) return refuse(result.reason === 'locked' ? REPLY.authLockedOut : REPLY.authFailed);
      return accept({ userId: result.user.id, address: result.user.address });
    },

    mailFrom: async (session, path, params) => {
      const sender = senderOf(session);
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
      checkRecipient(path, postmaster, params, { accounts: store.accounts, mayRelay: true }),

    data: async (session, tx, message) => {
      const sender = senders.get(session);
      if (!sender) return refuse(REPLY.authRequired);
      const checked = await checkMessage(message, options.maxReceivedHeaders);
      if (checked.action !== 'accept') return checked;

      const header = checkSubmittedHeader(await message.content(), sender.owned, options.hostname);
      if (header.action !== 'accept') {
        logger.info({ session: session.id, queueId: message.queueId, user: sender.user.address }, 'header From refused');
        return header;
      }
      // Mail from a local domain's sender leaves signed (RSA and Ed25519); the signature
      // covers exactly the stored bytes, so local copies carry it too.
      const content = header.value.message;
      const signingDomain = signingDomainFor(
        fieldsNamed(parseHeaderSection(content), 'From').map((field) => field.value).join(', '),
        (domain) => store.accounts.isLocalDomain(domain),
      );
      const dkim = signingDomain ? await signMessage(content, signingDomain, store.dkim.active(signingDomain)) : '';
      const stored = await message.store(dkim, header.value.added.length > 0 ? content : undefined);
      const result = await deliverAccepted(store, {
        queueId: message.queueId,
        file: stored.file,
        size: stored.size,
        mailFrom: tx.mailFrom!.address,
        ...recipientsOf(tx.recipients),
        origin: 'msa',
        notBefore: Date.now() + options.holdMs,
      });
      message.committed(stored.file);
      options.rateLimiter.record(sender.user.id);
      logger.info(
        { session: session.id, queueId: message.queueId, user: sender.user.address, via: sender.via, size: stored.size, added: header.value.added, dkim: signingDomain ?? null, ...result },
        'message submitted',
      );
      if (result.queued > 0) options.onQueued();
      return accept(undefined);
    },
  };
}
