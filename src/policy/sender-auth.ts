// Sender authentication of inbound mail (port 25, DATA stage): SPF, DKIM, DMARC, ARC and
// Sender ID on the message as the client sent it, one Authentication-Results field with
// our host name as authserv-id, and the verdict our policy draws from them.
//
// SECURITY: everything checked here is claimed by the sender; the DNS answers come from
// the sender's zones. Nothing here throws or hangs: each check returns a result value,
// DNS failures are temperror, the whole evaluation is bounded in time
// (SENDER_AUTH_LIMITS.timeoutMs) and in key lookups (a message cannot make us verify
// hundreds of signatures), and every sender-supplied text that reaches a reply or the
// header is cleaned. A passing ARC chain never overrides a DMARC failure (we trust no
// sealer). The verdict is final in the session: nothing is bounced later (RFC 7489 §10.3).
//
// STANDARDS: RFC 7208 (SPF; §2.4 the HELO identity for the null sender; §8 results and
// replies), RFC 7372 (X.7.23/X.7.24 SPF status codes), RFC 6376 and RFC 8301/8463 (DKIM),
// RFC 7489 §6.6 (DMARC handling; §6.6.1 several author domains; §10.3 rejecting in
// session) with the RFC 9989 record rules mailauth applies, RFC 8617 (ARC), RFC 4406 and
// RFC 4407 (Sender ID, PRA), RFC 8601 (Authentication-Results), RFC 3463 (status codes).
import type { Config } from '../config/schema.ts';
import { parseHeaderSection } from '../mail/header.ts';
import { formatAuthenticationResults, type ResultEntry } from './auth-results.ts';
import { forMailauth, MAILAUTH_STRICT, dnsError, type DnsAnswer, type MailauthResolver } from './spf/resolver.ts';
import { spfIdentity, SPF_LIMITS, toSpfVerdict, type SpfVerdict } from './spf/check.ts';
import { DKIM_OPTIONS, toDkimVerification, type DkimSignatureVerdict } from './dkim/verify.ts';
import { authorDomains, decidingVerdict, dmarcPerAuthorDomain, toDmarcVerdict, type DmarcVerdict } from './dmarc/evaluate.ts';
import { toArcVerdict, type ArcVerdict } from './arc/verify.ts';
import { checkSenderId, type SenderIdVerdict } from './senderid/check.ts';
import { checkMessage, type CheckResult } from './mailauth.ts';

export type SenderAuthPolicy = Config['sender_auth'];

export interface InboundInput {
  /** The client's message as received (CRLF), without any header field of ours. */
  message: Buffer;
  /** The client's IP address (an IPv4-mapped IPv6 address counts as IPv4). */
  ip: string;
  /** The EHLO/HELO argument. */
  helo: string;
  /** The MAIL FROM address without brackets; '' for the null reverse-path. */
  mailFrom: string;
  /** Our host name: the authserv-id of Authentication-Results (RFC 8601 §2.5). */
  authservId: string;
  /** mailauth-style resolver: mailauthResolver(createResolver(config.dns.servers)). */
  resolver: MailauthResolver;
}

export interface InboundResults {
  spf: SpfVerdict;
  /** Every DKIM signature, in header order (empty: unsigned). */
  dkim: DkimSignatureVerdict[];
  /** The DMARC verdict that decides (the strictest failure when From names several domains). */
  dmarc: DmarcVerdict;
  /** One per author domain; several only when From names more than one domain. */
  dmarcByAuthorDomain: DmarcVerdict[];
  arc: ArcVerdict;
  /** Absent when sender_auth.sender_id is off. */
  senderId?: SenderIdVerdict;
}

export type InboundDecision =
  | { action: 'accept'; quarantine: boolean; reason?: string }
  | { action: 'reject' | 'tempfail'; code: number; enhanced: string; text: string };

export interface InboundVerdict {
  /** One complete field: "Authentication-Results: <authservId>; …\r\n", folded. */
  authenticationResults: string;
  results: InboundResults;
  decision: InboundDecision;
}

/** Named limits of one evaluation. */
export const SENDER_AUTH_LIMITS = {
  /**
   * The whole evaluation; past it every result is temperror. Each DNS query is bounded by
   * src/dns/resolver.ts; this bounds their sum. The client waits 10 minutes for the
   * reply to the final "." (RFC 5321 §4.5.3.2.6), so a minute is safe.
   */
  timeoutMs: 60_000,
  /** DKIM/ARC key records looked up per message (RFC 6376 §6.1: verifiers MAY limit). */
  maxKeyLookups: 16,
} as const;

/** The replies of this stage, with the RFC each code comes from. */
export const SENDER_AUTH_REPLIES = {
  /** RFC 7489 §6.6.2/§10.3: refuse in session; RFC 3463 X.7.1 delivery not authorized. */
  dmarcReject: (text: string) => refusal(550, '5.7.1', text),
  /** RFC 7372 §3.2 X.7.23 "SPF validation failed", used in place of RFC 7208 §8.4's 5.7.1. */
  spfFail: (text: string) => refusal(550, '5.7.23', text),
  /** RFC 7372 §3.2 X.7.24 "SPF validation error", in place of RFC 7208 §8.6's 4.4.3. */
  spfTemperror: (text: string) => refusal(451, '4.7.24', text),
  /** No DMARC-specific code exists: RFC 3463 X.7.0 other security status. */
  dmarcTemperror: (text: string) => refusal(451, '4.7.0', text),
  /** RFC 3463 X.7.5 cryptographic failure: the key needed to validate was not available. */
  dkimTemperror: (text: string) => refusal(451, '4.7.5', text),
  /** The evaluation itself did not finish (time limit, internal error). */
  checksFailed: (text: string) => refusal(451, '4.7.0', text),
} as const;

function refusal(code: number, enhanced: string, text: string): InboundDecision {
  return { action: code >= 500 ? 'reject' : 'tempfail', code, enhanced, text: replyText(text) };
}

export interface EvaluateOptions {
  timeoutMs?: number;
  maxKeyLookups?: number;
  /** Told about an internal error (for the log); the verdict is then as for a timeout. */
  onError?: (err: unknown) => void;
}

/**
 * Authenticates one inbound message and decides what to do with it. Never throws: a
 * check that cannot finish is temperror, and the policy says what temperror means.
 */
export async function evaluateInbound(input: InboundInput, policy: SenderAuthPolicy, options: EvaluateOptions = {}): Promise<InboundVerdict> {
  const timeoutMs = options.timeoutMs ?? SENDER_AUTH_LIMITS.timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const checks = runChecks(input, policy, options).catch((err: unknown) => {
      options.onError?.(err);
      return 'error' as const;
    });
    const outcome = await Promise.race([checks, timeout]);
    if (outcome === 'timeout') return unfinished(input, policy, `not finished in ${Math.round(timeoutMs / 1000)} s`);
    // mailauth is not expected to throw; if it does on some input, that message is
    // treated like one whose checks could not finish, never as authenticated.
    if (outcome === 'error') return unfinished(input, policy, 'failed (internal error)');
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

async function runChecks(input: InboundInput, policy: SenderAuthPolicy, options: EvaluateOptions): Promise<InboundVerdict> {
  const { resolver, refusedKeys } = perMessageResolver(input.resolver, options.maxKeyLookups ?? SENDER_AUTH_LIMITS.maxKeyLookups);
  const identity = spfIdentity(input);
  const [auth, senderId] = await Promise.all([
    checkMessage(withoutUnneededBody(input.message), {
      ...(identity.sender === undefined ? {} : { sender: identity.sender }),
      ip: identity.ip,
      helo: identity.helo,
      mta: input.authservId,
      resolver: forMailauth(resolver),
      ...DKIM_OPTIONS,
      strict: MAILAUTH_STRICT,
      maxResolveCount: SPF_LIMITS.maxDnsLookups,
      maxVoidCount: SPF_LIMITS.maxVoidLookups,
      maxElapsedTime: SPF_LIMITS.maxElapsedMs,
    }),
    policy.sender_id ? checkSenderId({ message: input.message, ip: identity.ip, helo: identity.helo, resolver, hostname: input.authservId }) : undefined,
  ]);
  const results = await collectResults(auth, input, resolver);
  if (senderId) results.senderId = senderId;
  return {
    authenticationResults: authenticationResultsOf(input.authservId, results, identity.ip),
    results,
    decision: decide(results, policy, { ip: identity.ip, refusedKeys }),
  };
}

async function collectResults(auth: CheckResult, input: InboundInput, resolver: MailauthResolver): Promise<InboundResults> {
  const spf = auth.spf
    ? toSpfVerdict(auth.spf, input.mailFrom)
    : toSpfVerdict({ domain: '', 'client-ip': input.ip, status: { result: 'temperror' }, header: '', info: '' }, input.mailFrom);
  const dkim = toDkimVerification(auth.dkim);
  let dmarcByAuthorDomain: DmarcVerdict[];
  if (auth.dmarc) {
    dmarcByAuthorDomain = [toDmarcVerdict(auth.dmarc)];
  } else {
    const domains = authorDomains(dkim.headerFrom);
    if (domains.length > 0 && auth.dmarcSkipReason !== 'no-author-domain') {
      // Several From fields or author domains (or a mailbox without a domain next to
      // ones with): RFC 7489 §6.6.1, each domain on its own, the strictest failure wins.
      dmarcByAuthorDomain = await dmarcPerAuthorDomain(
        domains,
        {
          ...(spf.result === 'pass' ? { spfPassDomain: spf.domain } : {}),
          dkimPassDomains: dkim.signatures.filter((s) => s.result === 'pass').map((s) => s.domain),
        },
        resolver,
      );
    } else {
      dmarcByAuthorDomain = [{ result: 'none', domain: '', policy: 'none', comment: 'no author domain in From' }];
    }
  }
  return {
    spf,
    dkim: dkim.signatures,
    dmarc: decidingVerdict(dmarcByAuthorDomain)!,
    dmarcByAuthorDomain,
    arc: toArcVerdict(auth.arc),
  };
}

/**
 * What mailauth needs to see of a message. Only DKIM and ARC signatures read the body
 * (their body hashes); SPF, DMARC and the rest read the envelope and the header. For a
 * message with neither kind of signature, the header section alone gives the same
 * results and spares canonicalising the whole body — most of the per-message cost.
 */
function withoutUnneededBody(message: Buffer): Buffer {
  const header = parseHeaderSection(message);
  const signed = header.fields.some((field) => SIGNATURE_FIELDS.has(field.name.toLowerCase()));
  return signed || header.end >= message.length ? message : message.subarray(0, header.end);
}

const SIGNATURE_FIELDS = new Set(['dkim-signature', 'arc-seal', 'arc-message-signature']);

/**
 * The resolver for one message: each question asked once (SPF, Sender ID, DKIM, ARC and
 * DMARC share names), and at most `maxKeyLookups` distinct DKIM/ARC key records.
 */
function perMessageResolver(resolver: MailauthResolver, maxKeyLookups: number): { resolver: MailauthResolver; refusedKeys: Set<string> } {
  const answers = new Map<string, Promise<DnsAnswer>>();
  const keys = new Set<string>();
  const refusedKeys = new Set<string>();
  const wrapped: MailauthResolver = (name, rrtype) => {
    const type = rrtype.toUpperCase();
    const lower = name.toLowerCase().replace(/\.$/, '');
    if (type === 'TXT' && lower.includes('._domainkey.') && !keys.has(lower)) {
      if (keys.size >= maxKeyLookups) {
        refusedKeys.add(lower);
        return Promise.reject(dnsError('ELIMIT', name, type));
      }
      keys.add(lower);
    }
    const key = `${type} ${lower}`;
    let answer = answers.get(key);
    if (!answer) {
      answer = Promise.resolve().then(() => resolver(name, rrtype));
      answer.catch(() => undefined);
      answers.set(key, answer);
    }
    // Callers may change what they get (mailauth sorts MX lists, and marks errors with
    // the SPF result they caused): each gets its own copy of the answer or the error.
    return answer.then(
      (value) => structuredClone(value),
      (err: unknown) => {
        throw copyError(err);
      },
    );
  };
  return { resolver: wrapped, refusedKeys };
}

/**
 * A fresh error with the same message and DNS code (and nothing a caller added). Built
 * without a stack trace: "no such record" answers come by the thousand (three per
 * message), and capturing a stack for each was a measurable share of the CPU per message.
 */
function copyError(err: unknown): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    if (!(err instanceof Error)) return new Error(String(err));
    const { code, hostname } = err as Error & { code?: unknown; hostname?: unknown };
    return Object.assign(new Error(err.message), code === undefined ? {} : { code }, hostname === undefined ? {} : { hostname });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

interface DecideContext {
  ip: string;
  /** Key records not looked up because of maxKeyLookups (not a DNS failure). */
  refusedKeys?: ReadonlySet<string>;
}

/**
 * What the results mean under our policy, in this order:
 * 1. DMARC fail (RFC 7489 §6.6.2), with the policy mailauth applied (p, sp/np, t=y):
 *    reject → 550 5.7.1 when dmarc_reject; else quarantine → accepted and marked when
 *    dmarc_quarantine (also for p=reject when dmarc_reject is off). A reject that an SPF
 *    or DKIM temperror could have turned into a pass (an identifier that could align) is
 *    a 451 instead when temperror = "tempfail" (the sender retries, nothing is lost), and
 *    accepted (marked when dmarc_quarantine) when temperror = "accept".
 * 2. DMARC temperror (the policy record could not be read) → 451 4.7.0 when
 *    temperror = "tempfail".
 * 3. No DMARC record: SPF fail → 550 5.7.23 when spf_fail = "reject"; an SPF temperror
 *    then → 451 4.7.24 when temperror = "tempfail". A DMARC record (any p=) settles
 *    SPF: the domain owner chose what a failure means.
 * 4. Otherwise accept. A temperror that cannot change the outcome does not delay mail.
 */
export function decide(results: InboundResults, policy: SenderAuthPolicy, context: DecideContext): InboundDecision {
  const { spf, dkim, dmarc } = results;
  const tempfail = policy.temperror === 'tempfail';

  if (dmarc.result === 'fail') {
    const why = describeAuth(results);
    const enforce = dmarc.policy === 'reject' && policy.dmarc_reject ? 'reject' : dmarc.policy !== 'none' && policy.dmarc_quarantine ? 'quarantine' : 'none';
    if (enforce === 'reject') {
      const spfTransient = spf.result === 'temperror' && couldAlign(spf.domain, dmarc);
      const keyTransient = dkim.find(
        (s) => s.result === 'temperror' && couldAlign(s.domain, dmarc) && !context.refusedKeys?.has(`${s.selector}._domainkey.${s.domain}`.toLowerCase()),
      );
      if (spfTransient || keyTransient) {
        if (!tempfail) {
          // temperror = "accept": never refuse on an answer we did not get; mark it instead.
          return { action: 'accept', quarantine: policy.dmarc_quarantine, reason: replyText(`DMARC of ${dmarc.domain} failed, possibly because of a DNS error: ${why}`) };
        }
        if (spfTransient) {
          return SENDER_AUTH_REPLIES.spfTemperror(`SPF of ${spf.domain} could not be checked (DNS error) and DMARC of ${dmarc.domain} depends on it; try again later`);
        }
        return SENDER_AUTH_REPLIES.dkimTemperror(`DKIM key of ${keyTransient!.domain} could not be retrieved (DNS error) and DMARC of ${dmarc.domain} depends on it; try again later`);
      }
    }
    if (enforce === 'reject') return SENDER_AUTH_REPLIES.dmarcReject(`DMARC policy of ${dmarc.domain} rejects this message: ${why}`);
    if (enforce === 'quarantine') return { action: 'accept', quarantine: true, reason: replyText(`DMARC policy of ${dmarc.domain} is ${dmarc.policy}: ${why}`) };
    return { action: 'accept', quarantine: false, reason: replyText(`DMARC fail under policy none for ${dmarc.domain}: ${why}`) };
  }

  if (dmarc.result === 'temperror') {
    if (tempfail) return SENDER_AUTH_REPLIES.dmarcTemperror(`DMARC policy of ${dmarc.domain} could not be retrieved (DNS error); try again later`);
    return { action: 'accept', quarantine: false, reason: 'DMARC temperror accepted (sender_auth.temperror = "accept")' };
  }

  const settledByDmarc = dmarc.result === 'pass';
  if (!settledByDmarc && policy.spf_fail === 'reject') {
    if (spf.result === 'fail') {
      const who = spf.identity === 'helo' ? `the host ${spf.helo}` : spf.sender;
      return SENDER_AUTH_REPLIES.spfFail(`SPF of ${spf.domain} does not permit ${context.ip} to send mail for ${who}`);
    }
    if (spf.result === 'temperror' && tempfail) {
      return SENDER_AUTH_REPLIES.spfTemperror(`SPF of ${spf.domain} could not be checked (DNS error); try again later`);
    }
  }
  return { action: 'accept', quarantine: false };
}

/** Could `domain` align with the author domain (relaxed, RFC 7489 §3.1)? */
function couldAlign(domain: string, dmarc: DmarcVerdict): boolean {
  const d = domain.toLowerCase().replace(/\.$/, '');
  if (!d) return false;
  if (d === dmarc.domain) return true;
  const org = dmarc.orgDomain ?? dmarc.domain;
  return d === org || d.endsWith(`.${org}`);
}

/** "SPF fail, DKIM none" — why DMARC failed, for replies and logs. */
function describeAuth(results: InboundResults): string {
  const { spf, dkim } = results;
  const spfText = spf.result === 'pass' ? `SPF pass for ${spf.domain} (not aligned)` : `SPF ${spf.result}`;
  if (dkim.length === 0) return `${spfText}, DKIM none`;
  const shown = dkim
    .slice(0, 3)
    .map((s) => `${s.result} for ${s.domain || 'no domain'}${s.selector ? ` s=${s.selector}` : ''}${s.result === 'pass' ? ' (not aligned)' : ''}`);
  return `${spfText}, DKIM ${shown.join(', ')}${dkim.length > 3 ? ', …' : ''}`;
}

/** Reply and reason text: printable ASCII only (sender-supplied names in it), bounded. */
function replyText(text: string): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?').replace(/\s+/g, ' ').trim();
  return printable.length > 300 ? `${printable.slice(0, 297)}...` : printable;
}

/** The results as one Authentication-Results field (RFC 8601), in the order spf, dkim, dmarc, arc, sender-id. */
export function authenticationResultsOf(authservId: string, results: InboundResults, ip: string): string {
  const entries: ResultEntry[] = [];
  // mailauth starts its comments with the authserv-id, which the field already names.
  const own = `${authservId}: `;
  const optionalComment = (comment: string | undefined): { comment?: string } =>
    comment ? { comment: comment.startsWith(own) ? comment.slice(own.length) : comment } : {};
  const { spf } = results;
  entries.push({ method: 'spf', result: spf.result, ...optionalComment(spf.comment), properties: [[spf.reported.property, spf.reported.value]] });

  if (results.dkim.length === 0) entries.push({ method: 'dkim', result: 'none' });
  for (const signature of results.dkim) {
    const properties: [string, string][] = [['header.d', signature.domain]];
    if (signature.identity) properties.push(['header.i', signature.identity]);
    properties.push(['header.s', signature.selector], ['header.a', signature.algorithm], ['header.b', signature.signaturePrefix]);
    if (signature.policy) properties.push(['policy.dkim-rules', signature.policy]);
    entries.push({ method: 'dkim', result: signature.result, ...optionalComment(signature.comment), properties });
  }

  for (const dmarc of results.dmarcByAuthorDomain) {
    const properties: [string, string][] = [];
    if (dmarc.domain) properties.push(['header.from', dmarc.domain]);
    // RFC 9989 §9.1 registers policy.dmarc: the policy applied after its options.
    if (dmarc.result === 'pass' || dmarc.result === 'fail') properties.push(['policy.dmarc', dmarc.policy]);
    entries.push({ method: 'dmarc', result: dmarc.result, ...optionalComment(dmarc.comment), properties });
  }

  const { arc } = results;
  // RFC 8617 §6: smtp.remote-ip SHOULD be recorded with the arc result.
  entries.push({ method: 'arc', result: arc.result, ...optionalComment(arc.comment), properties: [['smtp.remote-ip', ip]] });

  const senderId = results.senderId;
  if (senderId) {
    // RFC 8601 registry: method "sender-id", property header.<name of the PRA's field>.
    const properties: [string, string][] = senderId.pra && senderId.field ? [[`header.${senderId.field}`, senderId.pra]] : [];
    entries.push({ method: 'sender-id', result: senderId.result, ...optionalComment(senderId.comment), properties });
  }
  return formatAuthenticationResults(authservId, entries);
}


/** The verdict when the checks did not finish: everything temperror, decided by policy. */
function unfinished(input: InboundInput, policy: SenderAuthPolicy, why: string): InboundVerdict {
  const spf = toSpfVerdict({ domain: '', 'client-ip': input.ip, status: { result: 'temperror', comment: `sender authentication ${why}` }, header: '', info: '' }, input.mailFrom);
  const identity = spfIdentity(input);
  spf.reported = identity.sender === undefined ? { property: 'smtp.helo', value: identity.helo } : { property: 'smtp.mailfrom', value: identity.sender };
  const dmarc: DmarcVerdict = { result: 'temperror', domain: '', policy: 'none', comment: `sender authentication ${why}` };
  const results: InboundResults = { spf, dkim: [], dmarc, dmarcByAuthorDomain: [dmarc], arc: { result: 'none', instance: 0 } };
  const decision: InboundDecision =
    policy.temperror === 'tempfail'
      ? SENDER_AUTH_REPLIES.checksFailed(`sender authentication ${why}; try again later`)
      : { action: 'accept', quarantine: false, reason: `sender authentication ${why} (sender_auth.temperror = "accept")` };
  return { authenticationResults: authenticationResultsOf(input.authservId, results, identity.ip), results, decision };
}
