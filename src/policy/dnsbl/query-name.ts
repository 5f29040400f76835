// The name a DNSBL is asked about an address (RFC 5782 §2.1 for IPv4, §2.4 for IPv6).
import { isIPv4, isIPv6 } from 'node:net';

/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, 253 characters as text. */
const MAX_NAME_LENGTH = 253;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * A DNSBL zone as configured ("zen.spamhaus.org", a trailing dot allowed), lower-cased
 * and without the dot; throws on anything that is not a DNS name.
 */
export function normalizeZone(zone: string): string {
  const bare = zone.trim().toLowerCase().replace(/\.$/, '');
  if (bare === '' || bare.length > MAX_NAME_LENGTH || !bare.split('.').every((label) => LABEL.test(label))) {
    throw new RangeError(`DNSBL zone is not a DNS name: ${JSON.stringify(zone)}`);
  }
  return bare;
}

/** The 16 octets of an IPv6 address (RFC 4291 §2.2 text forms, a zone index ignored). */
function ipv6Octets(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  // §2.2 form 3: the low 32 bits written as dotted IPv4 ("::ffff:192.0.2.1").
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].flatMap((group) => {
    const value = parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}

export type ParsedAddress = { family: 4; octets: number[] } | { family: 6; octets: number[] };

/**
 * An address as a DNSBL sees it. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291
 * §2.5.5.2, how a dual-stack socket shows an IPv4 client) is the IPv4 address it carries:
 * IPv4 lists are asked about it, under its in-addr name.
 */
export function parseAddress(ip: string): ParsedAddress {
  if (isIPv4(ip)) return { family: 4, octets: ip.split('.').map(Number) };
  if (!isIPv6(ip)) throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
  const octets = ipv6Octets(ip);
  const mapped = octets.slice(0, 10).every((octet) => octet === 0) && octets[10] === 0xff && octets[11] === 0xff;
  return mapped ? { family: 4, octets: octets.slice(12) } : { family: 6, octets };
}

/** The address in the text form used in logs and replies (IPv4-mapped shown as IPv4). */
export function displayAddress(ip: string): string {
  try {
    const parsed = parseAddress(ip);
    return parsed.family === 4 ? parsed.octets.join('.') : ip.replace(/%.*$/, '').toLowerCase();
  } catch {
    return ip;
  }
}

/**
 * The DNS name to look up: RFC 5782 §2.1, IPv4 octets in reverse order ("1.2.0.192.zone"
 * for 192.0.2.1); §2.4, IPv6 as 32 nibbles in reverse order, like ip6.arpa (RFC 3596 §2.5).
 */
export function dnsblQueryName(ip: string, zone: string): string {
  const parsed = parseAddress(ip);
  const labels =
    parsed.family === 4
      ? parsed.octets.map(String)
      : parsed.octets.flatMap((octet) => [(octet >> 4).toString(16), (octet & 0xf).toString(16)]);
  const name = `${labels.reverse().join('.')}.${normalizeZone(zone)}`;
  if (name.length > MAX_NAME_LENGTH) throw new RangeError(`DNSBL query name too long for zone ${zone}`);
  return name;
}
