// The parts of mailauth that kakitome uses, each imported from its own module. The
// package's main entry (lib/mailauth.js) also loads BIMI and VMC validation — an HTTP
// client (undici), an XML parser and certificate code, some 11 MB of every process's
// memory — which kakitome never calls (BIMI is off, and we build Authentication-Results
// ourselves). So the checks come from lib/dkim, lib/spf, lib/arc and lib/dmarc, and
// `checkMessage` runs them in the order authenticate() does (below).
//
// STANDARDS: RFC 6376 (DKIM), RFC 7208 (SPF), RFC 8617 (ARC), RFC 7489 with the RFC 9989
// record rules (DMARC; §3.1 identifier alignment).
import './mailauth-stand-ins.ts'; // first: Joi and encoding-japanese are replaced before mailauth requires them
import type { ARCData, ARCResult, DKIMVerifyOptions, DKIMVerifyResult, DMARCResult, DNSResolver, SPFResult } from 'mailauth';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { spf } from 'mailauth/lib/spf/index.js';
import { arc } from 'mailauth/lib/arc/index.js';
import { dmarc, evaluateDmarc } from 'mailauth/lib/dmarc/index.js';
import { formatDomain, getAlignment } from 'mailauth/lib/tools.js';

export { arc, dkimVerify, dmarc, spf };

export interface CheckOptions extends Pick<DKIMVerifyOptions, 'minBitLength'> {
  /** spfIdentity() (src/policy/spf/check.ts) of the transaction: the MAIL FROM address
   * (absent for the null reverse-path), the client address and the HELO identity. */
  sender?: string;
  ip: string;
  helo: string;
  /** Our host name (SPF's Received-SPF receiver). */
  mta: string;
  /** forMailauth(…) of the per-message resolver (src/policy/spf/resolver.ts). */
  resolver: DNSResolver;
  strict: boolean;
  rejectRsaSha1?: boolean;
  /** SPF's limits (RFC 7208 §4.6.4), handed to spf() as it names them. */
  maxResolveCount: number;
  maxVoidCount: number;
  maxElapsedTime: number;
}

export interface CheckResult {
  dkim: DKIMVerifyResult;
  spf: SPFResult | false;
  arc: ARCResult;
  /** False when the message has no single author domain (then `dmarcSkipReason` says why). */
  dmarc: DMARCResult | false;
  dmarcSkipReason?: string;
}

/**
 * The ARC sets dkimVerify() parsed while it read the header (a hidden property, with its
 * key cache), as arc() takes them. Its declared type (ARCSigningData) differs from
 * arc()'s parameter only in allowing chain: false.
 */
export function arcDataOf(dkim: DKIMVerifyResult): ARCData {
  return (dkim.arc ?? { chain: false }) as unknown as ARCData;
}

/**
 * DKIM, SPF, ARC and DMARC of one message, as mailauth's authenticate() runs them with
 * BIMI and sealing off: DKIM first (it parses the header the others read), SPF on the
 * envelope, ARC on the chain DKIM found, then DMARC from the aligned passes of both.
 */
export async function checkMessage(message: Buffer, options: CheckOptions): Promise<CheckResult> {
  const { resolver, strict, minBitLength } = options;
  const dkimResult = await dkimVerify(message, {
    resolver,
    ...(options.sender === undefined ? {} : { sender: options.sender }),
    ...(minBitLength === undefined ? {} : { minBitLength }),
    ...({ rejectRsaSha1: options.rejectRsaSha1, strict } as object),
  });
  const spfResult = await spf(options as Parameters<typeof spf>[0]);
  const arcResult = await arc(arcDataOf(dkimResult), { resolver, strict, ip: options.ip, ...(minBitLength === undefined ? {} : { minBitLength }) } as Parameters<typeof arc>[1]);
  const result: CheckResult = { dkim: dkimResult, spf: spfResult, arc: arcResult, dmarc: false };
  if (!dkimResult.headerFrom) return result;
  const passing = (dkimResult.results ?? []).filter((r) => r.status.result === 'pass');
  const evaluation = await evaluateDmarc({
    headerFrom: dkimResult.headerFrom,
    fromFields: (dkimResult as { fromFields?: unknown }).fromFields,
    spfDomains: spfResult && spfResult.status.result === 'pass' && spfResult.domain ? [spfResult.domain] : [],
    dkimDomains: passing.map((r) => ({ id: r.id, domain: r.signingDomain, aligned: r.status.aligned, underSized: r.status.underSized })),
    arcResult,
    resolver,
    strict,
  } as Parameters<typeof evaluateDmarc>[0]);
  result.dmarc = evaluation.response;
  if (!evaluation.response && evaluation.reason) result.dmarcSkipReason = evaluation.reason;
  const dmarcResult = evaluation.response;
  if (dmarcResult && evaluation.dkimAligned) {
    // The DKIM verifier guessed each signature's alignment before the DMARC record was
    // known (RFC 7489 §3.1.1): a passing signature takes DMARC's answer, a failing one
    // the record's alignment mode.
    const fromDomain = dmarcResult.status.header?.from ?? '';
    for (const row of dkimResult.results ?? []) {
      if (row.status.result === 'pass') {
        row.status.aligned = evaluation.dkimAligned.has(formatDomain(row.signingDomain ?? '')) ? row.signingDomain : false;
      } else if ((dmarcResult as { alignment?: { dkim?: { strict?: boolean } } }).alignment?.dkim?.strict) {
        row.status.aligned = (row.status.aligned && alignedDomain(getAlignment(fromDomain, [row.signingDomain ?? ''], true))) || false;
      }
    }
  }
  return result;
}

function alignedDomain(entry: { domain: string } | false): string | false {
  return entry ? entry.domain : false;
}
