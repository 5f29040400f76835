// Where mail for a recipient domain goes: the ordered list of SMTP servers (by IP
// address) to try, or why there is none. A pure async function of its inputs: the
// resolver is passed in, failures are result values, never exceptions.
//
// STANDARDS: RFC 5321 §5.1 (MX by preference, equal preferences in random order,
// implicit MX from the domain's own A/AAAA records, a host that finds itself among
// the MX hosts uses only the more preferred ones), RFC 7505 (null MX: the domain
// accepts no mail; fail at once with 5.1.10), RFC 3463 (the status codes).
import { isIP } from 'node:net';
import type { HostPort } from '../config/addresses.ts';

/** The part of dns.promises.Resolver used here (a test passes a fake). */
export interface HopResolver {
  resolveMx(hostname: string): Promise<{ exchange: string; priority: number }[]>;
  resolve4(hostname: string): Promise<string[]>;
  resolve6(hostname: string): Promise<string[]>;
}

export interface NextHop {
  /** IP address to connect to. */
  host: string;
  port: number;
  /** The name the address came from (MX exchange, transport host or the domain): for TLS SNI and logs. */
  exchange: string;
  /** MX preference; 0 for a transport entry or an implicit MX. */
  preference: number;
}

export type NextHopResult =
  | { kind: 'hops'; hops: NextHop[] }
  | { kind: 'fail'; permanent: boolean; /** RFC 3463 enhanced status code */ status: string; reason: string };

export interface NextHopOptions {
  /** `[outbound.transport]`: domain → next hop, overriding MX lookup. */
  transport: Readonly<Record<string, HostPort>>;
  resolver: HopResolver;
  /** Port for MX and implicit-MX hosts (`outbound.smtp_port`). */
  port: number;
  /** Our own host name: MX records at or below its preference are not used (RFC 5321 §5.1). */
  localHostname?: string;
  /** Only addresses of this family (when outgoing connections are bound to a source address). */
  family?: 4 | 6;
  /** At most this many addresses in all; default MAX_HOPS. */
  maxHops?: number;
  /** For the shuffle of equal preferences; default Math.random. */
  random?: () => number;
}

/** Enough for a primary and backups with a few addresses each; bounds the time one attempt can take. */
export const MAX_HOPS = 10;

/** c-ares codes for an authoritative "no such name" and "no records of this type". */
const NO_SUCH_NAME = 'ENOTFOUND';
const NO_DATA = 'ENODATA';

type AddressLookup = { addresses: string[]; temporary: string | undefined; missing: string | undefined };

export async function resolveNextHops(domain: string, options: NextHopOptions): Promise<NextHopResult> {
  const name = domain.toLowerCase().replace(/\.$/, '');
  const maxHops = options.maxHops ?? MAX_HOPS;

  if (Object.hasOwn(options.transport, name)) {
    const route = options.transport[name]!;
    if (isIP(route.host)) {
      if (options.family !== undefined && isIP(route.host) !== options.family) {
        return fail(true, '5.4.4', `transport ${route.host} for ${name} is not reachable from the source address family`);
      }
      return { kind: 'hops', hops: [{ host: route.host, port: route.port, exchange: route.host, preference: 0 }] };
    }
    const found = await lookupAddresses(route.host, options);
    if (found.addresses.length > 0) return { kind: 'hops', hops: toHops(found.addresses, route.host, 0, route.port).slice(0, maxHops) };
    return found.temporary !== undefined
      ? fail(false, '4.4.3', `transport host ${route.host} for ${name}: ${found.temporary}`)
      : fail(true, '5.4.4', `transport host ${route.host} for ${name} has no address`);
  }

  let records: { exchange: string; priority: number }[];
  try {
    records = await options.resolver.resolveMx(name);
  } catch (error) {
    const code = errorCode(error);
    if (code === NO_SUCH_NAME) return fail(true, '5.1.2', `domain ${name} does not exist (NXDOMAIN)`);
    if (code !== NO_DATA) return fail(false, '4.4.3', `MX lookup for ${name} failed: ${code}`);
    records = [];
  }

  // RFC 7505 §3: a null MX ("." — Node gives "") says the domain accepts no mail.
  if (records.some((record) => record.exchange === '' || record.exchange === '.')) {
    return fail(true, '5.1.10', `domain ${name} does not accept mail (null MX, RFC 7505)`);
  }

  if (records.length === 0) {
    // RFC 5321 §5.1: no MX records: the domain itself is the implicit MX.
    const found = await lookupAddresses(name, options);
    if (found.addresses.length > 0) return { kind: 'hops', hops: toHops(found.addresses, name, 0, options.port).slice(0, maxHops) };
    return found.temporary !== undefined
      ? fail(false, '4.4.3', `address lookup for ${name} failed: ${found.temporary}`)
      : fail(true, '5.1.2', `domain ${name} has no MX and no address records`);
  }

  const ordered = orderByPreference(records, options.random ?? Math.random);
  const usable = withoutSelf(ordered, options.localHostname);
  if (usable.length === 0) return fail(true, '5.4.6', `mail for ${name} loops back to myself (${options.localHostname} is its best MX)`);

  const lookups = await Promise.all(usable.map((record) => lookupAddresses(record.exchange, options)));
  const hops: NextHop[] = [];
  usable.forEach((record, index) => hops.push(...toHops(lookups[index]!.addresses, record.exchange, record.priority, options.port)));
  if (hops.length > 0) return { kind: 'hops', hops: hops.slice(0, maxHops) };
  const temporary = lookups.find((lookup) => lookup.temporary !== undefined);
  return temporary
    ? fail(false, '4.4.3', `no MX host of ${name} could be resolved: ${temporary.temporary}`)
    : fail(true, '5.4.4', `no MX host of ${name} has an address (${lookups[0]!.missing})`);
}

function fail(permanent: boolean, status: string, reason: string): NextHopResult {
  return { kind: 'fail', permanent, status, reason };
}

/** Ascending preference; records of equal preference in random order (RFC 5321 §5.1). */
function orderByPreference<T extends { priority: number }>(records: readonly T[], random: () => number): T[] {
  const shuffled = [...records];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  // Array#sort is stable, so the shuffle survives within each preference.
  return shuffled.sort((a, b) => a.priority - b.priority);
}

/** RFC 5321 §5.1: if we are an MX host, only the strictly more preferred ones may be used. */
function withoutSelf<T extends { exchange: string; priority: number }>(records: T[], localHostname: string | undefined): T[] {
  if (!localHostname) return records;
  const self = localHostname.toLowerCase().replace(/\.$/, '');
  const own = records.find((record) => record.exchange.toLowerCase().replace(/\.$/, '') === self);
  return own ? records.filter((record) => record.priority < own.priority) : records;
}

function toHops(addresses: readonly string[], exchange: string, preference: number, port: number): NextHop[] {
  return addresses.map((host) => ({ host, port, exchange: exchange.replace(/\.$/, ''), preference }));
}

/** A and AAAA records of a name, IPv4 first; which lookups failed temporarily or found nothing. */
async function lookupAddresses(host: string, options: NextHopOptions): Promise<AddressLookup> {
  const families: (4 | 6)[] = options.family === undefined ? [4, 6] : [options.family];
  const results = await Promise.allSettled(
    families.map((family) => (family === 4 ? options.resolver.resolve4(host) : options.resolver.resolve6(host))),
  );
  const lookup: AddressLookup = { addresses: [], temporary: undefined, missing: undefined };
  results.forEach((result, index) => {
    const type = families[index] === 4 ? 'A' : 'AAAA';
    if (result.status === 'fulfilled') {
      lookup.addresses.push(...result.value);
      return;
    }
    const code = errorCode(result.reason);
    if (code === NO_SUCH_NAME || code === NO_DATA) lookup.missing ??= `${host} ${type}: ${code}`;
    else lookup.temporary ??= `${host} ${type}: ${code}`;
  });
  return lookup;
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : String((error as Error | undefined)?.message ?? error);
}
