// ARC chain validation (RFC 8617 §5.2) through mailauth. Port 25 gets the result from
// `checkMessage` (src/policy/mailauth.ts); `verifyArc` runs the same
// validation on its own (the ARC validation suite). The result is reported in
// Authentication-Results only: kakitome trusts no ARC sealer, so a passing chain never
// overrides a DMARC failure (RFC 7489 §7.2's local-policy override needs a list of
// trusted intermediaries, RFC 8617 §7.2).
import type { ARCResult } from 'mailauth';
import { arc, arcDataOf, dkimVerify } from '../mailauth.ts';
import { forMailauth, MAILAUTH_STRICT, type MailauthResolver } from '../spf/resolver.ts';
import { DKIM_OPTIONS } from '../dkim/verify.ts';

/** RFC 8617 §4.4: the chain validation status; every failure is permanent (§5.2). */
export type ArcResultKeyword = 'none' | 'pass' | 'fail';

export interface ArcVerdict {
  result: ArcResultKeyword;
  /** The highest instance (i=) of the chain, 0 without one. */
  instance: number;
  comment?: string;
  /** The ADMD that added the newest set (its ARC-Authentication-Results authserv-id). */
  sealer?: string;
}

export interface VerifyArcOptions {
  /** mailauth's strict mode (default MAILAUTH_STRICT). */
  strict?: boolean;
}

/** The ARC chain of `message` (CRLF, as received). Never throws for bad input. */
export async function verifyArc(message: Buffer, resolver: MailauthResolver, options: VerifyArcOptions = {}): Promise<ArcVerdict> {
  const strict = options.strict ?? MAILAUTH_STRICT;
  const dkim = await dkimVerify(message, { resolver: forMailauth(resolver), ...DKIM_OPTIONS, strict });
  const result = await arc(arcDataOf(dkim), { resolver: forMailauth(resolver), minBitLength: DKIM_OPTIONS.minBitLength, strict });
  return toArcVerdict(result);
}

const ARC_KEYWORDS: ReadonlySet<string> = new Set(['none', 'pass', 'fail']);

export function toArcVerdict(result: ARCResult | false): ArcVerdict {
  if (!result) return { result: 'none', instance: 0 };
  const verdict: ArcVerdict = {
    result: ARC_KEYWORDS.has(result.status.result) ? (result.status.result as ArcResultKeyword) : 'fail',
    instance: typeof result.i === 'number' ? result.i : 0,
  };
  if (result.status.comment) verdict.comment = result.status.comment;
  const sealer = result.authenticationResults?.['mta'];
  if (verdict.result === 'pass' && typeof sealer === 'string') verdict.sealer = sealer;
  return verdict;
}
