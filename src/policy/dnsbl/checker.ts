// DNSBL (RBL) lookups for a connecting client: every configured zone asked in parallel,
// answers interpreted per RFC 5782, results cached per (address, zone) for their TTL.
// A DNS failure never blocks mail: it is "not listed" with a note for the log.
import { NODATA, NOTFOUND } from 'node:dns';
import type { NetworkList } from '../access/networks.ts';
import { TtlCache } from './cache.ts';
import { dnsblQueryName, normalizeZone, parseAddress } from './query-name.ts';

/** The two lookups a DNSBL check makes; a node:dns/promises Resolver is one. */
export interface DnsblResolver {
  resolve4(hostname: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolveTxt(hostname: string): Promise<string[][]>;
}

export type DnsblResult =
  | { listed: false }
  | { listed: true; zone: string; codes: string[]; text: string }
  | { listed: false; temperror: string[] };

export type DnsblListing = Extract<DnsblResult, { listed: true }>;

export interface DnsblOptions {
  /** Zones in order of preference: when several list the address, the first one is reported. */
  zones: readonly string[];
  /** Clients in these networks are never looked up (an empty list skips nobody). */
  allow: NetworkList;
  resolver: DnsblResolver;
  /** Clock for cache lifetimes (ms); Date.now by default. */
  now?: () => number;
  /** (address, zone) answers kept at most; the least recently used go first. */
  maxCacheEntries?: number;
  /** Longest wait for one answer (A, then TXT) before it counts as a DNS failure. */
  timeoutMs?: number;
  /** How long "not listed" (NXDOMAIN/NODATA) is kept; the SOA minimum is not looked up. */
  negativeCacheSeconds?: number;
  /**
   * Shortest time an answer is kept, whatever its TTL: a TTL of 0 (dnsmasq answers
   * with TTL 0) would otherwise mean a lookup for every connection of a busy client.
   */
  minCacheSeconds?: number;
  /** Longest time an answer is kept, whatever its TTL, so that a delisting is seen. */
  maxCacheSeconds?: number;
  /** How long a DNS failure is kept, so a dead list does not delay every reconnection. */
  temperrorCacheSeconds?: number;
  /** The listing text from TXT is cut to this many characters (it goes into an SMTP reply). */
  maxTextLength?: number;
}

export const DNSBL_DEFAULTS = {
  maxCacheEntries: 10_000,
  timeoutMs: 10_000,
  negativeCacheSeconds: 300,
  minCacheSeconds: 5,
  maxCacheSeconds: 3600,
  temperrorCacheSeconds: 30,
  maxTextLength: 200,
} as const;

/** What one zone said about one address; what the cache holds. */
type ZoneAnswer =
  | { kind: 'listed'; zone: string; codes: readonly string[]; text: string }
  | { kind: 'clear'; notes: readonly string[] };

const CLEAR: ZoneAnswer = Object.freeze({ kind: 'clear', notes: Object.freeze([]) });

class LookupTimeout extends Error {}

async function within<T>(lookup: () => Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LookupTimeout(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([lookup(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function errorText(error: unknown): string {
  if (error instanceof LookupTimeout) return error.message;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? `DNS error ${code}` : `lookup failed: ${String((error as Error | null)?.message ?? error)}`;
}

/**
 * Listing text as it may appear in an SMTP reply (RFC 5321 §4.2: printable US-ASCII):
 * control characters become spaces (no CR/LF to inject a reply line), other bytes "?",
 * runs of spaces one, and the result is cut to maxLength.
 */
export function sanitizeListingText(raw: string, maxLength: number = DNSBL_DEFAULTS.maxTextLength): string {
  const text = raw
    .replace(/[\x00-\x1f\x7f]/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(/ {2,}/g, ' ')
    .trim();
  return text.length > maxLength ? `${text.slice(0, Math.max(0, maxLength - 3)).trimEnd()}...` : text;
}

type Octets = [number, number, number, number];

/** RFC 5782 §2.1: a listing is an A record in 127.0.0.0/8. */
function classifyAnswer(address: string): 'listing' | 'refused' | 'reserved' | 'outside' {
  const octets = address.split('.').map(Number) as Octets;
  if (octets.length !== 4 || octets[0] !== 127) return 'outside';
  // Spamhaus return codes: 127.255.255.252 typo in the zone name, .254 query via a
  // public/open resolver, .255 excessive number of queries; the whole /24 is kept for
  // such errors by convention. They say nothing about the address.
  if (octets[1] === 255 && octets[2] === 255) return 'refused';
  // RFC 5782 §5: a DNSxL MUST NOT list 127.0.0.1; lists (e.g. URIBL) use it to say
  // "your queries are blocked".
  if (octets[1] === 0 && octets[2] === 0 && octets[3] === 1) return 'reserved';
  return 'listing';
}

export class DnsblChecker {
  readonly #zones: readonly string[];
  readonly #allow: NetworkList;
  readonly #resolver: DnsblResolver;
  readonly #now: () => number;
  readonly #settings: Required<Omit<DnsblOptions, 'zones' | 'allow' | 'resolver' | 'now'>>;
  readonly #cache: TtlCache<ZoneAnswer>;
  /** Lookups under way, so that simultaneous connections from one address share them. */
  readonly #pending = new Map<string, Promise<ZoneAnswer>>();

  constructor(options: DnsblOptions) {
    this.#zones = options.zones.map(normalizeZone);
    this.#allow = options.allow;
    this.#resolver = options.resolver;
    this.#now = options.now ?? Date.now;
    this.#settings = {
      maxCacheEntries: options.maxCacheEntries ?? DNSBL_DEFAULTS.maxCacheEntries,
      timeoutMs: options.timeoutMs ?? DNSBL_DEFAULTS.timeoutMs,
      negativeCacheSeconds: options.negativeCacheSeconds ?? DNSBL_DEFAULTS.negativeCacheSeconds,
      minCacheSeconds: options.minCacheSeconds ?? DNSBL_DEFAULTS.minCacheSeconds,
      maxCacheSeconds: options.maxCacheSeconds ?? DNSBL_DEFAULTS.maxCacheSeconds,
      temperrorCacheSeconds: options.temperrorCacheSeconds ?? DNSBL_DEFAULTS.temperrorCacheSeconds,
      maxTextLength: options.maxTextLength ?? DNSBL_DEFAULTS.maxTextLength,
    };
    this.#cache = new TtlCache(this.#settings.maxCacheEntries);
  }

  get zones(): readonly string[] {
    return this.#zones;
  }

  /** (address, zone) answers in the cache now, expired ones included until they are asked for. */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /** Whether the client is listed; never rejects. */
  async check(ip: string): Promise<DnsblResult> {
    if (this.#zones.length === 0 || this.#allow.includes(ip)) return { listed: false };
    try {
      parseAddress(ip);
    } catch {
      return { listed: false, temperror: [`not an IP address: ${JSON.stringify(ip)}`] };
    }
    const lookups = this.#zones.map((zone) => this.#lookup(dnsblQueryName(ip, zone), zone));
    // All zones are asked at once; the first zone (in configured order) that lists the
    // address decides, without waiting for the zones after it.
    const notes: string[] = [];
    for (const lookup of lookups) {
      const answer = await lookup;
      if (answer.kind === 'listed') return { listed: true, zone: answer.zone, codes: [...answer.codes], text: answer.text };
      notes.push(...answer.notes);
    }
    return notes.length > 0 ? { listed: false, temperror: notes } : { listed: false };
  }

  /** Forgets every cached answer (e.g. after the zones' configuration changed). */
  clearCache(): void {
    this.#cache.clear();
  }

  #lookup(name: string, zone: string): Promise<ZoneAnswer> {
    const cached = this.#cache.get(name, this.#now());
    if (cached) return Promise.resolve(cached);
    const pending = this.#pending.get(name);
    if (pending) return pending;
    const lookup = this.#query(name, zone)
      .then(({ answer, seconds }) => {
        this.#cache.set(name, answer, this.#now() + seconds * 1000);
        return answer;
      })
      .finally(() => this.#pending.delete(name));
    this.#pending.set(name, lookup);
    return lookup;
  }

  #clampTtl(ttl: number): number {
    const { minCacheSeconds, maxCacheSeconds } = this.#settings;
    return Math.min(maxCacheSeconds, Math.max(minCacheSeconds, ttl));
  }

  async #query(name: string, zone: string): Promise<{ answer: ZoneAnswer; seconds: number }> {
    const { timeoutMs, negativeCacheSeconds, temperrorCacheSeconds } = this.#settings;
    let records: { address: string; ttl: number }[];
    try {
      records = await within(() => this.#resolver.resolve4(name, { ttl: true }), timeoutMs);
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      // NXDOMAIN or NODATA: the list does not list the address.
      if (code === NOTFOUND || code === NODATA) return { answer: CLEAR, seconds: negativeCacheSeconds };
      // SERVFAIL, REFUSED, timeouts…: unknown, so not listed (never block on DNS trouble).
      return { answer: { kind: 'clear', notes: [`${zone}: ${errorText(error)}`] }, seconds: temperrorCacheSeconds };
    }
    if (records.length === 0) return { answer: CLEAR, seconds: negativeCacheSeconds };

    const codes: string[] = [];
    const notes: string[] = [];
    for (const { address } of records) {
      const kind = classifyAnswer(address);
      if (kind === 'listing') codes.push(address);
      else if (kind === 'refused') notes.push(`${zone}: answered ${address}, the list refused the query (e.g. queries through a public resolver or too many queries)`);
      else if (kind === 'reserved') notes.push(`${zone}: answered ${address}, which is never a listing (RFC 5782 §5); queries blocked?`);
      else notes.push(`${zone}: answered ${address}, outside 127.0.0.0/8, ignored (misconfigured list or a resolver rewriting NXDOMAIN)`);
    }
    const seconds = this.#clampTtl(Math.min(...records.map((record) => record.ttl)));
    if (codes.length === 0) return { answer: { kind: 'clear', notes }, seconds };
    return { answer: { kind: 'listed', zone, codes, text: await this.#listingText(name, zone) }, seconds };
  }

  /** RFC 5782 §2.1: the TXT record at the same name explains the listing; optional. */
  async #listingText(name: string, zone: string): Promise<string> {
    let text = '';
    try {
      const records = await within(() => this.#resolver.resolveTxt(name), this.#settings.timeoutMs);
      // A record longer than 255 octets comes in several character-strings (RFC 1035 §3.3.14).
      text = sanitizeListingText(records.map((chunks) => chunks.join('')).filter((record) => record !== '').join('; '), this.#settings.maxTextLength);
    } catch {
      // No TXT, or no answer in time: the listing stands, with the default text.
    }
    return text || `listed in ${zone}`;
  }
}
