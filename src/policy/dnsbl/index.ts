// DNSBL / RBL: is the connecting client on a DNS block list? Checked at connect.
//
// SECURITY: trusts nothing a list answers beyond "listed or not": only A records in
// 127.0.0.0/8 count, list error codes and answers outside 127/8 are ignored (logged),
// and the TXT text is reduced to printable ASCII and cut short before it reaches an SMTP
// reply. Any DNS failure means "not listed": a list outage never blocks mail. Networks
// in the allow list are never looked up. The cache is bounded.
//
// STANDARDS: RFC 5782 (DNS blacklists: §2.1 IPv4 names and 127/8 answers, §2.4 IPv6
// nibble names, §5 test entries and 127.0.0.1), RFC 4291 §2.5.5.2 (IPv4-mapped IPv6),
// RFC 5321 §4.2 / §4.5.3.1.5 (reply text and length), RFC 3463 (5.7.1).
export { dnsblQueryName, normalizeZone } from './query-name.ts';
export { DnsblChecker, DNSBL_DEFAULTS, sanitizeListingText } from './checker.ts';
export type { DnsblListing, DnsblOptions, DnsblResolver, DnsblResult } from './checker.ts';
export { dnsblReply, DNSBL_ENHANCED_CODE, DNSBL_REPLY_CODE } from './reply.ts';
