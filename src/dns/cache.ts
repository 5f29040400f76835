// A small answer cache in front of the resolver for the sender-authentication checks.
// Every inbound message asks for the same few records (the sender domain's SPF and
// DMARC policy, DKIM keys); without a cache each message pays the round trips and, for
// the common "no such record" answers, Node's cost of building a DNS error. Node's
// resolver does not report TTLs for TXT answers, so answers are kept for fixed, short
// times (a DNS TTL below them only delays a change by that much); failures other than
// "no such record" are never cached.
import type { DnsLookups } from './lookups.ts';

export const DNS_CACHE = {
  /** How long an answer is reused. */
  positiveMs: 300_000,
  /** How long "no such name / no such record" (ENOTFOUND, ENODATA) is reused. */
  negativeMs: 60_000,
  maxEntries: 10_000,
} as const;

const NEGATIVE_CODES = new Set(['ENOTFOUND', 'ENODATA']);

interface Entry {
  expires: number;
  answer: Promise<unknown>;
}

export function cachingLookups(dns: DnsLookups, now: () => number = Date.now): DnsLookups {
  const entries = new Map<string, Entry>();

  function cached<T>(type: string, name: string, lookup: () => Promise<T>): Promise<T> {
    const key = `${type} ${name.toLowerCase()}`;
    const hit = entries.get(key);
    if (hit && hit.expires > now()) return hit.answer as Promise<T>;
    entries.delete(key);
    const answer = lookup();
    const entry: Entry = { expires: now() + DNS_CACHE.positiveMs, answer };
    entries.set(key, entry);
    if (entries.size > DNS_CACHE.maxEntries) entries.delete(entries.keys().next().value!);
    answer.then(
      () => {},
      (err: { code?: string }) => {
        if (NEGATIVE_CODES.has(err?.code ?? '')) entry.expires = now() + DNS_CACHE.negativeMs;
        else if (entries.get(key) === entry) entries.delete(key);
      },
    );
    // Callers may change the answers they get (mailauth sorts MX lists): each gets a copy.
    return answer.then((value) => structuredClone(value));
  }

  return {
    resolveTxt: (name) => cached('TXT', name, () => dns.resolveTxt(name)),
    resolveMx: (name) => cached('MX', name, () => dns.resolveMx(name)),
    resolve4: (name) => cached('A', name, () => dns.resolve4(name)),
    resolve6: (name) => cached('AAAA', name, () => dns.resolve6(name)),
    resolvePtr: (name) => cached('PTR', name, () => dns.resolvePtr(name)),
    resolveCname: (name) => cached('CNAME', name, () => dns.resolveCname(name)),
  };
}
