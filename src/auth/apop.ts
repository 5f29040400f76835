// APOP (RFC 1939 §7): the client proves knowledge of a shared secret by sending
// MD5(timestamp + secret) in hex, where the timestamp is the one in this session's
// greeting. MD5 is weak and the secret must be stored as is: POP3S is preferred.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A greeting timestamp, unique per connection: <random.time@hostname> (RFC 1939 §7's msg-id form). */
export function apopTimestamp(hostname: string): string {
  return `<${randomBytes(12).toString('hex')}.${Date.now()}@${hostname}>`;
}

export function apopDigest(timestamp: string, secret: string): string {
  return createHash('md5').update(timestamp + secret, 'utf8').digest('hex');
}

/** Constant-time comparison of the client's digest (32 hex digits, case-insensitive). */
export function verifyApop(timestamp: string, secret: string, digest: string): boolean {
  if (!/^[0-9a-fA-F]{32}$/.test(digest)) return false;
  const expected = Buffer.from(apopDigest(timestamp, secret), 'hex');
  return timingSafeEqual(expected, Buffer.from(digest, 'hex'));
}
