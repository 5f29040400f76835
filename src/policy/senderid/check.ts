// Sender ID (RFC 4406): is the client allowed to send for the domain of the Purported
// Responsible Address (RFC 4407, ./pra.ts)? No library implements it any more (it is
// historic since RFC 6686); it is SPF's check_host() (RFC 4406 §4, RFC 7208 §4) with the
// PRA as <sender>, on the records of the "pra" scope:
//
// - RFC 4406 §3: a Sender ID record is a TXT record starting "spf2.0/" and a comma list
//   of scopes ("spf2.0/pra", "spf2.0/mfrom,pra"), then SPF terms;
// - RFC 4406 §3.4: a "v=spf1" record counts as "spf2.0/mfrom,pra", but only when the
//   name has no "spf2.0" record at all;
// - several records for the scope are a permerror, none is "none" (as in SPF).
//
// The mechanism logic is mailauth's SPF evaluator, unchanged. It looks for "v=spf1"
// records, so it gets a resolver wrapper that does the Sender ID record selection on
// every TXT answer — of the PRA domain and of every include:/redirect= target, which
// RFC 4406 evaluates in the same scope — and shows a selected "spf2.0/…pra…" record as
// "v=spf1 <same terms>", hiding "v=spf1" records whenever an "spf2.0" record exists.
// Other TXT records (exp= texts, anything else) pass through unchanged.
import { spf } from '../mailauth.ts';
import type { HeaderSection } from '../../mail/header.ts';
import { forMailauth, MAILAUTH_STRICT, type DnsAnswer, type MailauthResolver } from '../spf/resolver.ts';
import { SPF_LIMITS, toSpfVerdict, type SpfResultKeyword } from '../spf/check.ts';
import { findPra, type PraField } from './pra.ts';

export type SenderIdResultKeyword = SpfResultKeyword;

export interface SenderIdVerdict {
  result: SenderIdResultKeyword;
  /** The PRA and the header field it came from; absent when the message has none. */
  pra?: string;
  field?: PraField;
  domain?: string;
  comment?: string;
  /** The record evaluated, as published ("spf2.0/pra …" or "v=spf1 …"). */
  record?: string;
}

export interface SenderIdInput {
  /** The message as received (its header section is read), or its parsed header. */
  message: Buffer | HeaderSection;
  ip: string;
  helo: string;
  resolver: MailauthResolver;
  /** Our host name, for comments. */
  hostname: string;
}

/** The Sender ID check of a message. Never throws. */
export async function checkSenderId(input: SenderIdInput): Promise<SenderIdVerdict> {
  const pra = findPra(input.message);
  // RFC 4407 §2 step 6: no single valid PRA; the message itself is wrong, permanently.
  if (!pra.found) return { result: 'permerror', comment: `no purported responsible address: ${pra.reason}` };
  const selected = new Map<string, string>();
  const result = await spf({
    sender: pra.address,
    ip: input.ip,
    helo: input.helo,
    mta: input.hostname,
    resolver: forMailauth(senderIdResolver(input.resolver, (name, record) => selected.set(name.toLowerCase(), record))),
    maxResolveCount: SPF_LIMITS.maxDnsLookups,
    maxVoidCount: SPF_LIMITS.maxVoidLookups,
    maxElapsedTime: SPF_LIMITS.maxElapsedMs,
    strict: MAILAUTH_STRICT,
  });
  const verdict = toSpfVerdict(result, pra.address);
  const out: SenderIdVerdict = { result: verdict.result, pra: pra.address, field: pra.field, domain: pra.domain };
  if (verdict.comment) out.comment = verdict.comment;
  const record = selected.get(pra.domain) ?? verdict.record;
  if (record) out.record = record;
  return out;
}

const SPF2 = /^spf2\.0\/([^\s]*)(?=\s|$)/i;
const SPF1 = /^v=spf1(?=\s|$)/i;

/**
 * RFC 4406 §3.4 record selection for the "pra" scope on one TXT answer (each record's
 * strings joined): the "spf2.0" records whose scopes include pra, rewritten as
 * "v=spf1" records for mailauth, if the name has any "spf2.0" record; else unchanged.
 */
export function selectPraRecords(answer: string[][]): { answer: string[][]; selected: string[] } {
  const records = answer.map((strings) => strings.join(''));
  if (!records.some((record) => SPF2.test(record))) return { answer, selected: records.filter((r) => SPF1.test(r)) };
  const out: string[][] = [];
  const selected: string[] = [];
  for (const record of records) {
    if (SPF1.test(record)) continue; // RFC 4406 §3.4: not used when spf2.0 exists
    const match = SPF2.exec(record);
    if (!match) {
      out.push([record]);
      continue;
    }
    const scopes = match[1]!.toLowerCase().split(',');
    if (!scopes.includes('pra')) continue;
    selected.push(record);
    out.push(['v=spf1' + record.slice(match[0].length)]);
  }
  return { answer: out, selected };
}

/** `resolver` with Sender ID record selection on TXT answers (see the top of this file). */
export function senderIdResolver(resolver: MailauthResolver, onSelected?: (name: string, record: string) => void): MailauthResolver {
  return async (name: string, rrtype: string): Promise<DnsAnswer> => {
    const answer = await resolver(name, rrtype);
    if (rrtype.toUpperCase() !== 'TXT') return answer;
    const { answer: selectedAnswer, selected } = selectPraRecords(answer as string[][]);
    if (selected.length === 1) onSelected?.(name, selected[0]!);
    return selectedAnswer;
  };
}
