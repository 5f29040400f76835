// DMARC (RFC 7489, and RFC 9989 as mailauth implements it: the DNS Tree Walk, sp/np and
// t=y) for a message whose SPF and DKIM results are known. `checkMessage`
// (src/policy/mailauth.ts) evaluates a message with one author domain; this module turns its result into ours and
// covers what it leaves out: a From field with several author domains, or several From
// fields. RFC 7489 §6.6.1: "apply the DMARC check using each of those domains … and apply
// the most strict policy selected among the checks that fail" — otherwise adding a second
// mailbox to From would switch off the policy of a domain that publishes p=reject.
import type { DMARCResult } from 'mailauth';
import { dmarc } from '../mailauth.ts';
import { forMailauth, MAILAUTH_STRICT, type MailauthResolver } from '../spf/resolver.ts';

export type DmarcResultKeyword = 'pass' | 'fail' | 'none' | 'temperror' | 'permerror';
export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

export interface DmarcVerdict {
  result: DmarcResultKeyword;
  /** The author domain (RFC5322.From), reported as header.from. */
  domain: string;
  /** Its Organizational Domain (RFC 9989 Tree Walk; the PSL in RFC 7489 terms). */
  orgDomain?: string;
  /**
   * The policy for a failing message, as mailauth applied the record: p for the domain's
   * own record, sp (or np for a name that does not exist) for an inherited one, one step
   * weaker with t=y. pct= is historic in RFC 9989 and no longer read (mailauth 7).
   */
  policy: DmarcPolicy;
  /** Where the applied record is published, and the record. */
  policyDomain?: string;
  record?: string;
  /** The identifiers that aligned (RFC 7489 §3.1). */
  alignedSpf?: string;
  alignedDkim?: string;
  comment?: string;
}

export interface AuthenticatedIds {
  /** The domain SPF passed for (MAIL FROM, or HELO for the null sender), if it passed. */
  spfPassDomain?: string;
  /** The d= of every passing DKIM signature. */
  dkimPassDomains: string[];
}

const POLICY_STRENGTH: Record<DmarcPolicy, number> = { none: 0, quarantine: 1, reject: 2 };
const KEYWORDS: ReadonlySet<string> = new Set(['pass', 'fail', 'none', 'temperror', 'permerror']);

/** mailauth's DMARC result as ours. */
export function toDmarcVerdict(result: DMARCResult): DmarcVerdict {
  const verdict: DmarcVerdict = {
    result: KEYWORDS.has(result.status.result) ? (result.status.result as DmarcResultKeyword) : 'temperror',
    domain: result.status.header?.from ?? result.domain,
    policy: isPolicy(result.policy) ? result.policy : 'none',
  };
  if (result.domain) verdict.orgDomain = result.domain;
  if (result.policyDomain) verdict.policyDomain = result.policyDomain;
  if (result.rr) verdict.record = result.rr;
  if (result.alignment?.spf?.result) verdict.alignedSpf = result.alignment.spf.result;
  if (result.alignment?.dkim?.result) verdict.alignedDkim = result.alignment.dkim.result;
  const comment = [result.status.comment, result.error].filter((c) => typeof c === 'string' && c !== '').join('; ');
  if (comment) verdict.comment = comment;
  return verdict;
}

const isPolicy = (value: unknown): value is DmarcPolicy => value === 'none' || value === 'quarantine' || value === 'reject';

/** The distinct author domains of From addresses (the text after the last "@"). */
export function authorDomains(headerFrom: readonly string[]): string[] {
  const domains = new Set<string>();
  for (const address of headerFrom) {
    const at = address.lastIndexOf('@');
    const domain = (at >= 0 ? address.slice(at + 1) : '').trim().toLowerCase().replace(/\.$/, '');
    if (/^[a-z0-9_.-]+$/.test(domain) && domain.includes('.')) domains.add(domain);
  }
  return [...domains];
}

/** DMARC for each author domain on its own (RFC 7489 §6.6.1). */
export async function dmarcPerAuthorDomain(domains: readonly string[], ids: AuthenticatedIds, resolver: MailauthResolver): Promise<DmarcVerdict[]> {
  const verdicts: DmarcVerdict[] = [];
  for (const domain of domains) {
    const result = await dmarc({
      // a bare domain is accepted as the author domain
      headerFrom: domain,
      fromFields: 1,
      spfDomains: ids.spfPassDomain ? [ids.spfPassDomain] : [],
      dkimDomains: ids.dkimPassDomains.map((d) => ({ domain: d })),
      resolver: forMailauth(resolver),
      strict: MAILAUTH_STRICT,
    });
    verdicts.push(result ? toDmarcVerdict(result) : { result: 'permerror', domain, policy: 'none', comment: 'not a valid author domain' });
  }
  return verdicts;
}

/**
 * The verdict that decides, of one per author domain: the failure with the strictest
 * policy (RFC 7489 §6.6.1), else a temperror, else a pass, else the rest.
 */
export function decidingVerdict(verdicts: readonly DmarcVerdict[]): DmarcVerdict | undefined {
  const rank = (v: DmarcVerdict) =>
    v.result === 'fail' ? 10 + POLICY_STRENGTH[v.policy] : v.result === 'temperror' ? 5 : v.result === 'pass' ? 4 : v.result === 'permerror' ? 3 : 2;
  let best: DmarcVerdict | undefined;
  for (const verdict of verdicts) if (!best || rank(verdict) > rank(best)) best = verdict;
  return best;
}
