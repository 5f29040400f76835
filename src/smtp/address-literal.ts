// RFC 5321 §4.1.3 address literals, the "[...]" form of a domain: an IPv4 address, an
// IPv6 address after the "IPv6:" tag, or a General-address-literal (tag ":" dcontent).
// Syntax only: whether a literal may be used at all is the policy's decision.

// RFC 5321 §4.1.3: Snum = 1*3DIGIT, a decimal value 0 through 255.
const SNUM = /^\d{1,3}$/;
const IPV6_HEX = /^[0-9A-Fa-f]{1,4}$/;
// RFC 5321 §4.1.2: Standardized-tag = Ldh-str; dcontent = %d33-90 / %d94-126.
const STANDARDIZED_TAG = /^[A-Za-z0-9-]*[A-Za-z0-9]$/;
const DCONTENT = /^[\x21-\x5a\x5e-\x7e]+$/;

/** `[192.0.2.1]`, `[IPv6:2001:db8::1]`, `[tag:content]` — the brackets included. */
export function isAddressLiteral(text: string): boolean {
  if (!text.startsWith('[') || !text.endsWith(']')) return false;
  const inner = text.slice(1, -1);
  if (isIPv4Literal(inner)) return true;
  const colon = inner.indexOf(':');
  if (colon < 0) return false;
  const tag = inner.slice(0, colon);
  const content = inner.slice(colon + 1);
  // ABNF strings are case-insensitive (RFC 5234 §2.3): "ipv6:" is the IPv6 tag too.
  if (tag.toLowerCase() === 'ipv6') return isIPv6Literal(content);
  return STANDARDIZED_TAG.test(tag) && DCONTENT.test(content);
}

/** RFC 5321 §4.1.3 IPv4-address-literal = Snum 3("." Snum). */
export function isIPv4Literal(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((part) => SNUM.test(part) && Number(part) <= 255);
}

/**
 * RFC 5321 §4.1.3 IPv6-addr: IPv6-full (8 groups), IPv6-comp ("::" and at most 6 more
 * groups), IPv6v4-full (6 groups and an IPv4 address), IPv6v4-comp ("::", at most 4
 * groups, an IPv4 address). No zone index ("%eth0"): it has no meaning off the host.
 */
export function isIPv6Literal(text: string): boolean {
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const compressed = halves.length === 2;
  const groups = halves.flatMap((half) => (half === '' ? [] : half.split(':')));
  const last = groups[groups.length - 1];
  const withIPv4 = last !== undefined && last.includes('.');
  if (withIPv4) {
    // The IPv4 part ends the address: "::" may not follow it.
    if (compressed && halves[1] === '') return false;
    if (!isIPv4Literal(groups.pop()!)) return false;
  }
  if (!groups.every((group) => IPV6_HEX.test(group))) return false;
  const hexGroups = withIPv4 ? 6 : 8;
  return compressed ? groups.length <= hexGroups - 2 : groups.length === hexGroups;
}
