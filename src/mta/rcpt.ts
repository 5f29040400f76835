// RCPT stage of port 25, in order:
//   1. routing tricks are refused outright, never resolved: source routes (@a:b@c),
//      address literals, % and ! in the local part, @ inside a quoted local part
//      ("user@ext"@local; unquoted, user@ext@local is no mailbox at all and the engine
//      refuses it first with 553 5.1.3, src/smtp/mailbox.ts);
//   2. a local domain: the address must reach a user (directly, by alias or as
//      user+tag), else 550 5.1.1 — at RCPT, never a bounce later (no backscatter);
//      a pending postmaster@ or abuse@ (its user not added yet) gets 450 4.2.1, so the
//      sender retries: RFC 5321 §4.5.1 wants postmaster accepted, never refused for good;
//   3. any other domain: relayed only when the caller says the client may relay
//      (port 25: relay.trusted_networks, where loopback is not trusted unless listed;
//      submission: an authenticated user), else 554 5.7.1.
import { resolveLocalRecipient, type LocalRecipient, type RcptLookups } from '../intake/recipients.ts';
import type { MailParams, MailPath } from '../smtp/path.ts';
import { REPLY } from '../smtp/replies.ts';
import { accept, refuse, type Verdict } from '../smtp/verdict.ts';

export type RcptAccounts = RcptLookups;

export type RecipientRoute = { kind: 'local'; local: LocalRecipient } | { kind: 'remote'; address: string };

export interface RcptContext {
  accounts: RcptAccounts;
  /** Whether this client may send to other domains (trusted network, or an authenticated user). */
  mayRelay: boolean;
}

export function isRoutingTrick(path: MailPath): boolean {
  if (path.sourceRoute || path.domainLiteral) return true;
  return /[@%!]/.test(path.local);
}

export async function checkRecipient(
  path: MailPath | null,
  postmaster: boolean,
  params: MailParams,
  context: RcptContext,
): Promise<Verdict<RecipientRoute>> {
  // No DSN (RFC 3461) parameters are advertised on port 25, so none are accepted.
  if (params.size > 0) return refuse(REPLY.badParameter);
  if (postmaster || !path) return postmasterRoute(context.accounts);
  if (isRoutingTrick(path)) return refuse(REPLY.routingRefused);
  if (await context.accounts.isLocalDomain(path.domain)) {
    if (path.quoted && !/^[a-z0-9_+=.-]+$/i.test(path.local)) return refuse(REPLY.unknownUser);
    return localRoute(context.accounts, `${path.local.toLowerCase()}@${path.domain}`);
  }
  if (context.mayRelay) return accept({ kind: 'remote', address: path.address });
  return refuse(REPLY.relayDenied);
}

async function localRoute(accounts: RcptAccounts, address: string): Promise<Verdict<RecipientRoute>> {
  const local = await resolveLocalRecipient(accounts, address);
  if (local) return accept({ kind: 'local', local });
  return refuse((await accounts.pendingAlias(address)) ? REPLY.mailboxNotReady : REPLY.unknownUser);
}

/**
 * RFC 5321 §4.1.1.3 and §4.5.1: RCPT TO:<Postmaster>, without a domain and in any
 * case, is postmaster@ of the primary (first added) local domain.
 */
async function postmasterRoute(accounts: RcptAccounts): Promise<Verdict<RecipientRoute>> {
  const primary = await accounts.primaryDomain();
  return primary === undefined ? refuse(REPLY.unknownUser) : localRoute(accounts, `postmaster@${primary}`);
}
