// A resolver answering from a table, for the DNSBL logic tests: records with TTLs,
// DNS error codes as node:dns/promises reports them, and answers held back on request.
import type { DnsblResolver } from '../../../src/policy/dnsbl/index.ts';

export type FakeAnswer<T> = T | { error: string } | { never: true } | { delayMs: number; value: T };

export interface FakeZoneData {
  a?: Record<string, FakeAnswer<{ address: string; ttl: number }[]>>;
  txt?: Record<string, FakeAnswer<string[][]>>;
}

export interface FakeResolver extends DnsblResolver {
  queries: { type: 'A' | 'TXT'; name: string }[];
  count(type: 'A' | 'TXT', name?: string): number;
}

export function dnsError(code: string, name: string): Error {
  return Object.assign(new Error(`query ${code} ${name}`), { code, hostname: name });
}

async function answer<T>(entry: FakeAnswer<T> | undefined, name: string): Promise<T> {
  // Unknown names are NXDOMAIN, as from a real zone.
  if (entry === undefined) throw dnsError('ENOTFOUND', name);
  if (typeof entry === 'object' && entry !== null && 'error' in entry) throw dnsError(entry.error, name);
  if (typeof entry === 'object' && entry !== null && 'never' in entry) return new Promise<T>(() => {});
  if (typeof entry === 'object' && entry !== null && 'delayMs' in entry) {
    await new Promise((resolve) => setTimeout(resolve, entry.delayMs));
    return entry.value;
  }
  return entry as T;
}

export function fakeResolver(data: FakeZoneData): FakeResolver {
  const queries: FakeResolver['queries'] = [];
  return {
    queries,
    count: (type, name) => queries.filter((q) => q.type === type && (name === undefined || q.name === name)).length,
    async resolve4(name) {
      queries.push({ type: 'A', name });
      return answer(data.a?.[name], name);
    },
    async resolveTxt(name) {
      queries.push({ type: 'TXT', name });
      // A name with an A record but no TXT is NODATA for TXT.
      if (data.txt?.[name] === undefined && data.a?.[name] !== undefined) throw dnsError('ENODATA', name);
      return answer(data.txt?.[name], name);
    },
  };
}

export function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (seconds: number) => (now += seconds * 1000) };
}
