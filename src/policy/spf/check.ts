// SPF (RFC 7208) for one SMTP transaction, through mailauth's evaluator: the MAIL FROM
// identity, or the HELO identity when the reverse-path is null (RFC 7208 §2.4). The
// inbound check (src/policy/sender-auth.ts) runs the same evaluation inside
// `checkMessage` (src/policy/mailauth.ts); `spfIdentity` is the one place both take their arguments from, so the
// RFC 7208 suite run through `checkSpf` tests what port 25 does.
import { isIP } from 'node:net';
import type { SPFResult } from 'mailauth';
import { spf } from '../mailauth.ts';
import { plainAddress } from '../access/networks.ts';
import { forMailauth, MAILAUTH_STRICT, type MailauthResolver } from './resolver.ts';

export type SpfResultKeyword = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror';

export interface SpfVerdict {
  result: SpfResultKeyword;
  /** The identity checked: MAIL FROM, or HELO for the null reverse-path (RFC 7208 §2.4). */
  identity: 'mailfrom' | 'helo';
  /** The checked identity as an address ("postmaster@<helo>" for HELO, RFC 7208 §2.4). */
  sender: string;
  /** The domain whose record was evaluated (what DMARC aligns with on a pass). */
  domain: string;
  helo: string;
  /**
   * What Authentication-Results names (RFC 8601 §2.7.2): smtp.mailfrom, or smtp.helo for
   * the null sender; mailauth's strict mode gives the local-part only when the policy
   * used it (%{l}, %{s} macros).
   */
  reported: { property: 'smtp.mailfrom' | 'smtp.helo'; value: string };
  /** Why, in words (for logs and the Authentication-Results comment). */
  comment?: string;
  /** The record evaluated, when one was found. */
  record?: string;
  /** The domain owner's exp= text, only for a fail (RFC 7208 §6.2); third-party text. */
  explanation?: string;
}

/** Limits of one SPF evaluation (named, as DESIGN asks). */
export const SPF_LIMITS = {
  /** RFC 7208 §4.6.4: DNS-querying terms per evaluation. */
  maxDnsLookups: 10,
  /** RFC 7208 §4.6.4: lookups that return nothing (NXDOMAIN / no data). */
  maxVoidLookups: 2,
  /** RFC 7208 §4.6.4: an elapsed-time limit "of at least 20 seconds"; then temperror. */
  maxElapsedMs: 20_000,
} as const;

export interface SpfIdentityInput {
  ip: string;
  /** The EHLO/HELO argument as the client sent it ("mail.example.com", "[192.0.2.1]"). */
  helo: string;
  /** The MAIL FROM address without angle brackets; '' for the null reverse-path. */
  mailFrom: string;
}

/** The arguments of mailauth's spf(), normalised once for checkSpf and checkMessage. */
export function spfIdentity(input: SpfIdentityInput): { sender: string | undefined; ip: string; helo: string } {
  // A client that gave no HELO is checked by its address; a bare address literal gets
  // its brackets (RFC 7208 §2.3: the HELO identity as the client would write it).
  // An IPv4-mapped IPv6 address (a dual-stack listener's view of an IPv4 client) is the
  // IPv4 client it maps (RFC 7208 §5).
  const ip = plainAddress(input.ip);
  let helo = input.helo || ip;
  if (isIP(helo)) helo = `[${helo}]`;
  return { sender: input.mailFrom === '' ? undefined : input.mailFrom, ip, helo };
}

export interface SpfCheckInput extends SpfIdentityInput {
  resolver: MailauthResolver;
  /** Our host name, used in comments. */
  hostname: string;
  /** mailauth's strict mode (default MAILAUTH_STRICT). */
  strict?: boolean;
}

/** check_host() for the transaction's identity (RFC 7208 §4). Never throws. */
export async function checkSpf(input: SpfCheckInput): Promise<SpfVerdict> {
  const identity = spfIdentity(input);
  const result = await spf({
    ...identity,
    mta: input.hostname,
    resolver: forMailauth(input.resolver),
    maxResolveCount: SPF_LIMITS.maxDnsLookups,
    maxVoidCount: SPF_LIMITS.maxVoidLookups,
    maxElapsedTime: SPF_LIMITS.maxElapsedMs,
    strict: input.strict ?? MAILAUTH_STRICT,
  });
  return toSpfVerdict(result, input.mailFrom);
}

const SPF_KEYWORDS: ReadonlySet<string> = new Set(['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror']);

/** mailauth's SPF result as ours. */
export function toSpfVerdict(result: SPFResult, mailFrom: string): SpfVerdict {
  const keyword = SPF_KEYWORDS.has(result.status.result) ? (result.status.result as SpfResultKeyword) : 'temperror';
  const identity = mailFrom === '' ? 'helo' : 'mailfrom';
  const sender = result['envelope-from'] ?? mailFrom;
  const helo = result.helo ?? '';
  const verdict: SpfVerdict = {
    result: keyword,
    identity,
    sender,
    domain: result.domain,
    helo,
    reported:
      identity === 'helo'
        ? { property: 'smtp.helo', value: result.status.smtp?.helo ?? helo }
        : { property: 'smtp.mailfrom', value: result.status.smtp?.mailfrom ?? sender },
  };
  if (result.status.comment) verdict.comment = result.status.comment;
  if (result.rr) verdict.record = result.rr;
  if (result.explanation !== undefined && keyword === 'fail') verdict.explanation = result.explanation;
  return verdict;
}
