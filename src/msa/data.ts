// DATA stage of submission, after the checks shared with port 25 (line endings, size,
// header, hops): the header From must be the user's (SPEC), and a message without
// Date or Message-ID gets them (RFC 6409 §8.2, §8.3).
import { randomBytes } from 'node:crypto';
import { addressesOf, fieldsNamed, parseHeaderSection } from '../mail/header.ts';
import { rfc5322Date } from '../smtp/received.ts';
import { REPLY } from '../smtp/replies.ts';
import { accept, refuse, type Verdict } from '../smtp/verdict.ts';
import { isOwned } from './senders.ts';

export interface SubmittedHeaderResult {
  /** The content to store: the client's, or a new buffer with the added fields on top. */
  message: Buffer;
  added: string[];
}

export function checkSubmittedHeader(
  message: Buffer,
  owned: ReadonlySet<string>,
  hostname: string,
  now = new Date(),
): Verdict<SubmittedHeaderResult> {
  const header = parseHeaderSection(message);
  const from = fieldsNamed(header, 'From');
  if (from.length === 0) return refuse(REPLY.headerFromMissing);
  const addresses = from.flatMap((field) => addressesOf(field.value));
  if (addresses.length === 0 || !addresses.every((address) => isOwned(owned, address))) {
    return refuse(REPLY.headerFromNotOwned);
  }
  const additions: string[] = [];
  if (fieldsNamed(header, 'Date').length === 0) additions.push(`Date: ${rfc5322Date(now)}\r\n`);
  if (fieldsNamed(header, 'Message-ID').length === 0) {
    additions.push(`Message-ID: <${randomBytes(12).toString('hex')}.${now.getTime()}@${hostname}>\r\n`);
  }
  if (additions.length === 0) return accept({ message, added: [] });
  // At the top of the client's header; our Received goes above them (RFC 5322 §3.6.7).
  return accept({
    message: Buffer.concat([Buffer.from(additions.join('')), message]),
    added: additions.map((field) => field.slice(0, field.indexOf(':'))),
  });
}
