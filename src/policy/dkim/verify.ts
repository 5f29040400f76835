// DKIM verification (RFC 6376) of every signature of a message, RSA and Ed25519
// (RFC 8463), through mailauth. Port 25 gets these results from
// `checkMessage` (src/policy/mailauth.ts); `verifyDkim` runs the same verifier on its
// own (the RFC 8463 Appendix A test, and anyone who needs DKIM alone).
//
// STANDARDS: RFC 6376 (§6.1: a verifier MAY limit the signatures it checks), RFC 8301
// (rsa-sha1 is not accepted, RSA keys under 1024 bits are not), RFC 8463, RFC 8601 §2.7.1
// (what Authentication-Results reports: header.d, header.s, header.a, header.b).
import type { DKIMResult, DKIMVerifyResult } from 'mailauth';
import { dkimVerify } from '../mailauth.ts';
import { forMailauth, MAILAUTH_STRICT, type MailauthResolver } from '../spf/resolver.ts';

export type DkimResultKeyword = 'pass' | 'fail' | 'neutral' | 'policy' | 'temperror' | 'permerror' | 'none';

export interface DkimSignatureVerdict {
  result: DkimResultKeyword;
  /** d=, s=, a= and the first characters of b= (RFC 8601 §2.7.1, RFC 6008). */
  domain: string;
  selector: string;
  algorithm: string;
  signaturePrefix: string;
  /** The AUID (i=), when the signature has one. */
  identity?: string;
  comment?: string;
  /** The key's policy problem (weak-key, weak-algorithm) for result "policy". */
  policy?: string;
  /** The signing domain aligns with the From domain (as DMARC decided it). */
  aligned: boolean;
  /** The key record has t=y (RFC 6376 §3.6.1). */
  testing: boolean;
}

/** Verification options shared by port 25 and verifyDkim. */
export const DKIM_OPTIONS = {
  /** RFC 8301 §3.2: RSA keys shorter than 1024 bits are not accepted. */
  minBitLength: 1024,
  /** RFC 8301 §3.1: verifiers MUST NOT consider rsa-sha1 signatures valid. */
  rejectRsaSha1: true,
} as const;

export interface DkimVerification {
  signatures: DkimSignatureVerdict[];
  /** The From addresses, and how many From fields carried them (RFC 5322 allows one). */
  headerFrom: string[];
  fromFields: number;
}

export interface VerifyDkimOptions {
  /** The time t= and x= are checked against (default: now). */
  now?: Date;
  /** mailauth's strict mode (default MAILAUTH_STRICT). */
  strict?: boolean;
}

/** Every DKIM signature of `message` (CRLF, as received). Never throws for bad input. */
export async function verifyDkim(message: Buffer, resolver: MailauthResolver, options: VerifyDkimOptions = {}): Promise<DkimVerification> {
  const result = await dkimVerify(message, {
    resolver: forMailauth(resolver),
    ...DKIM_OPTIONS,
    ...(options.now ? { curTime: options.now } : {}),
    strict: options.strict ?? MAILAUTH_STRICT,
  });
  return toDkimVerification(result);
}

export function toDkimVerification(result: DKIMVerifyResult): DkimVerification {
  return {
    // A message without signatures has one result "none" in mailauth; we list signatures.
    signatures: result.results.filter((row) => row.status.result !== 'none' || row.signingDomain).map(toSignatureVerdict),
    headerFrom: [...result.headerFrom],
    fromFields: result.fromFields,
  };
}

const DKIM_KEYWORDS: ReadonlySet<string> = new Set(['pass', 'fail', 'neutral', 'policy', 'temperror', 'permerror', 'none']);

function toSignatureVerdict(row: DKIMResult): DkimSignatureVerdict {
  const status = row.status;
  const header = (status.header ?? {}) as Record<string, unknown>;
  const verdict: DkimSignatureVerdict = {
    result: DKIM_KEYWORDS.has(status.result) ? (status.result as DkimResultKeyword) : 'permerror',
    domain: row.signingDomain ?? '',
    selector: row.selector ?? '',
    algorithm: row.algo ?? '',
    signaturePrefix: (row.signature ?? '').replace(/\s+/g, '').slice(0, 8),
    aligned: Boolean(status.aligned),
    testing: Boolean(status.testing),
  };
  if (typeof header['i'] === 'string' && header['i'] !== `@${verdict.domain}`) verdict.identity = header['i'];
  if (status.comment) verdict.comment = status.comment;
  if (status.policy?.['dkim-rules']) verdict.policy = status.policy['dkim-rules'];
  return verdict;
}
