// Parsers for the network values in the config file: host names, IP addresses,
// "address:port" pairs and CIDR networks. Each returns a normalised value or
// throws an Error whose message is one line saying what was expected and what was found.

import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';

export type HostPort = { host: string; port: number };

const quote = (text: string): string => JSON.stringify(text);

// RFC 1035 §2.3.1 as relaxed by RFC 1123 §2.1 (labels may start with a digit):
// letters, digits and inner hyphens, 1-63 octets a label, 253 octets in all.
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Normalises a DNS host or domain name: lower case, internationalised names
 * converted to their A-label (punycode) form per RFC 5890. IP addresses are refused,
 * since a name is what is asked for.
 */
export function parseHostName(text: string): string {
  const wrong = new Error(`expected a host name like "mail.example.com", got ${quote(text)}`);
  // domainToASCII applies UTS #46 mapping and returns "" for names it cannot convert.
  const ascii = domainToASCII(text);
  if (ascii === '' || ascii.length > 253) throw wrong;
  const labels = ascii.split('.');
  if (!labels.every((label) => LABEL.test(label))) throw wrong;
  // An all-numeric last label would read as an IPv4 address (RFC 1123 §2.1).
  if (/^\d+$/.test(labels.at(-1)!)) throw wrong;
  return ascii;
}

/** Normalises an IPv4 or IPv6 address (no brackets); IPv6 is written in its canonical short form. */
export function parseIpAddress(text: string): string {
  if (isIPv4(text)) return text;
  if (isIPv6(text)) return canonicalIPv6(text);
  throw new Error(`expected an IP address, got ${quote(text)}`);
}

function canonicalIPv6(address: string): string {
  const [bare, zone] = address.split('%', 2);
  // The WHATWG URL serialiser compresses zeros and lower-cases, as RFC 5952 §4 asks.
  const canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return zone === undefined ? canonical : `${canonical}%${zone}`;
}

/**
 * Splits "host:port" or "[v6]:port"; the port part is undefined when absent. IPv6 needs the
 * brackets even without a port, since in "2001:db8::7:25" the last group could be either.
 */
function splitHostPort(text: string): { host: string; port: string | undefined } | undefined {
  if (text.startsWith('[')) {
    const match = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
    if (!match || !isIPv6(match[1]!)) return undefined;
    return { host: match[1]!, port: match[2] };
  }
  const colon = text.lastIndexOf(':');
  if (colon === -1) return { host: text, port: undefined };
  const host = text.slice(0, colon);
  if (host.includes(':')) return undefined; // IPv6 with a port needs brackets
  return { host, port: text.slice(colon + 1) };
}

function parsePort(port: string, text: string): number {
  const number = /^\d{1,5}$/.test(port) ? Number(port) : 0;
  if (number < 1 || number > 65535) throw new Error(`port must be 1-65535, got ${quote(text)}`);
  return number;
}

/** Parses a listening address "0.0.0.0:25" or "[::1]:25"; the address must be an IP literal. */
export function parseListenAddress(text: string): HostPort {
  const parts = splitHostPort(text);
  if (!parts || parts.port === undefined || !(isIPv4(parts.host) || isIPv6(parts.host))) {
    throw new Error(`expected "address:port" with an IP address, got ${quote(text)}`);
  }
  return { host: parseIpAddress(parts.host), port: parsePort(parts.port, text) };
}

/**
 * Parses a DNS server "192.0.2.53", "192.0.2.53:5353" or "[2001:db8::53]:5353" (port 53
 * when absent) into the form dns.Resolver#setServers accepts, port always written.
 */
export function parseDnsServer(text: string): string {
  const parts = splitHostPort(text);
  if (!parts || !(isIPv4(parts.host) || isIPv6(parts.host))) {
    throw new Error(`expected an IP address with an optional ":port", got ${quote(text)}`);
  }
  const port = parts.port === undefined ? 53 : parsePort(parts.port, text);
  const host = parseIpAddress(parts.host);
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses a next hop "relay.example.net:25", "192.0.2.7:2525" or "[2001:db8::7]:25"; port 25 when absent. */
export function parseNextHop(text: string): HostPort {
  const parts = splitHostPort(text);
  if (parts) {
    const port = parts.port === undefined ? 25 : parsePort(parts.port, text);
    if (isIPv4(parts.host) || isIPv6(parts.host)) return { host: parseIpAddress(parts.host), port };
    try {
      return { host: parseHostName(parts.host), port };
    } catch {
      // fall through to the message that names both accepted forms
    }
  }
  throw new Error(`expected "host:port" with a host name or IP address, got ${quote(text)}`);
}

/**
 * Parses a network in CIDR notation; a bare address means that one host (/32, /128).
 * Host bits below the prefix are refused rather than silently cleared, because
 * "10.1.2.3/8" more likely hides a typo than means 10.0.0.0/8.
 */
export function parseCidr(text: string): string {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  if (addressText.includes('%') || !(isIPv4(addressText) || isIPv6(addressText))) {
    throw new Error(`expected a network like "192.0.2.0/24" or "2001:db8::/32", got ${quote(text)}`);
  }
  const address = parseIpAddress(addressText);
  const bits = isIPv4(address) ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
  if (prefix < 0 || prefix > bits) {
    throw new Error(`prefix length must be 0-${bits}, got ${quote(text)}`);
  }
  const value = addressBits(address);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) {
    const network = formatAddress(value & ~hostMask, bits);
    throw new Error(`${quote(text)} has host bits set: the network is "${network}/${prefix}"`);
  }
  return `${address}/${prefix}`;
}

// Takes a normalised address: IPv4 dotted quad, or IPv6 as canonicalIPv6 writes it
// (hexadecimal groups only, at most one "::").
function addressBits(address: string): bigint {
  if (isIPv4(address)) {
    return address.split('.').reduce((sum, octet) => (sum << 8n) | BigInt(octet), 0n);
  }
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const zeros: string[] = Array(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].reduce((sum, group) => (sum << 16n) | BigInt(`0x${group}`), 0n);
}

function formatAddress(value: bigint, bits: number): string {
  if (bits === 32) return [24n, 16n, 8n, 0n].map((shift) => (value >> shift) & 0xffn).join('.');
  const groups = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  return canonicalIPv6(groups.join(':'));
}
