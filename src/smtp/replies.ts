// Every SMTP reply kakitome sends, named (RFC 5321 §4.2 codes with RFC 3463 enhanced
// status codes, advertised as ENHANCEDSTATUSCODES per RFC 2034). Logic refers to
// these names, never to bare numbers.
import type { Reply } from '../mail/reply.ts';

export type { Reply };

const reply = (code: number, enhanced: string | undefined, text: string): Reply =>
  enhanced === undefined ? { code, text } : { code, enhanced, text };

export const REPLY = {
  // session
  closing: (host: string) => reply(221, '2.0.0', `${host} closing connection`),
  accessDenied: (host: string) => reply(554, '5.7.1', `${host} access denied`),
  tooManyConnections: (host: string) => reply(421, '4.7.0', `${host} too many connections, try again later`),
  idleTimeout: (host: string) => reply(421, '4.4.2', `${host} idle timeout, closing connection`),
  shuttingDown: (host: string) => reply(421, '4.3.2', `${host} shutting down, try again later`),
  tooManyErrors: (host: string) => reply(421, '4.7.0', `${host} too many errors, closing connection`),
  httpRefused: (host: string) => reply(421, '4.7.0', `${host} this is an SMTP server, not a web server`),
  lineTooLong: reply(500, '5.5.6', 'line too long'),
  unknownCommand: reply(500, '5.5.2', 'command not recognized'),
  syntax: reply(501, '5.5.4', 'syntax error in parameters'),
  badSequence: (text: string) => reply(503, '5.5.1', text),
  ok: reply(250, '2.0.0', 'ok'),
  help: reply(214, '2.0.0', 'see RFC 5321'),
  // RFC 5321 §3.5.3: 252 confirms nothing; the same for every address (account discovery).
  cannotVerify: reply(252, '2.5.2', 'cannot verify addresses; send mail and delivery will be attempted'),
  authNotHere: reply(502, '5.5.1', 'AUTH is not offered on this port; submit mail on port 587 or 465'),
  // AUTH (RFC 4954)
  authNeedsTls: reply(538, '5.7.11', 'encryption required for requested authentication mechanism: STARTTLS first'),
  authRequired: reply(530, '5.7.0', 'authentication required'),
  authOk: reply(235, '2.7.0', 'authentication successful'),
  authFailed: reply(535, '5.7.8', 'authentication credentials invalid'),
  authLockedOut: reply(454, '4.7.0', 'too many failed logins, try again later'),
  authCancelled: reply(501, '5.7.0', 'authentication cancelled'),
  authBadResponse: reply(501, '5.5.2', 'cannot decode the response'),
  authMechanism: reply(504, '5.5.4', 'unrecognised authentication mechanism'),
  authTwice: reply(503, '5.5.1', 'already authenticated'),
  authInTransaction: reply(503, '5.5.1', 'AUTH is not allowed during a mail transaction'),
  authChallenge: (challenge: string) => reply(334, undefined, challenge),
  senderNotOwned: reply(553, '5.7.1', 'sender address not owned by the authenticated user'),
  headerFromNotOwned: reply(550, '5.7.1', 'header From not owned by the authenticated user'),
  headerFromMissing: reply(550, '5.6.0', 'the message has no From header field (RFC 5322 section 3.6)'),
  rateLimited: reply(450, '4.7.1', 'sending rate limit exceeded, try again later'),
  // EHLO / HELO
  badHelo: reply(501, '5.5.4', 'invalid EHLO/HELO domain'),
  // STARTTLS (RFC 3207)
  startTls: reply(220, '2.0.0', 'ready to start TLS'),
  alreadyTls: reply(503, '5.5.1', 'TLS already active'),
  tlsUnavailable: reply(454, '4.7.0', 'TLS not available'),
  // MAIL
  senderOk: reply(250, '2.1.0', 'sender ok'),
  // RFC 5321 §4.2.3: 553 "mailbox syntax incorrect"; RFC 3463 §3.2: X.1.7 bad sender's
  // mailbox address syntax, X.1.3 the same for a destination mailbox.
  badSender: reply(553, '5.1.7', 'bad sender mailbox address syntax (RFC 5321 section 4.1.2)'),
  badParameter: reply(555, '5.5.4', 'unsupported MAIL/RCPT parameter'),
  // RFC 6531 §3.4/§3.5: a non-ASCII address without MAIL's SMTPUTF8 parameter; X.6.7
  // "non-ASCII addresses not permitted for that sender/recipient" (RFC 6531 §4.2).
  needsSmtpUtf8: reply(553, '5.6.7', 'non-ASCII address needs the SMTPUTF8 parameter on MAIL (RFC 6531)'),
  // RCPT
  recipientOk: reply(250, '2.1.5', 'recipient ok'),
  badRecipient: reply(553, '5.1.3', 'bad recipient mailbox address syntax (RFC 5321 section 4.1.2)'),
  routingRefused: reply(554, '5.7.1', 'relay access denied: source routes, %, ! and address literals are not accepted'),
  relayDenied: reply(554, '5.7.1', 'relay access denied'),
  unknownUser: reply(550, '5.1.1', 'no such user here'),
  // A role address (postmaster@, abuse@) whose user is not added yet: RFC 5321 §4.5.1
  // wants it accepted, so never 550; 450 with RFC 3463 X.2.1 (mailbox not accepting
  // messages, transient) makes the sender retry until the administrator adds it.
  mailboxNotReady: reply(450, '4.2.1', 'mailbox not ready yet (no user receives it); try again later'),
  tooManyRecipients: reply(452, '4.5.3', 'too many recipients'),
  // DATA
  startData: reply(354, undefined, 'end data with <CR><LF>.<CR><LF>'),
  noValidRecipients: reply(554, '5.5.1', 'no valid recipients'),
  messageTooBig: reply(552, '5.3.4', 'message size exceeds fixed limit'),
  headerTooBig: reply(552, '5.3.4', 'message header section exceeds limits'),
  bareLineEnding: reply(554, '5.6.0', 'message refused: bare CR or LF (lines must end with CRLF, RFC 5321 section 2.3.8)'),
  nulInMessage: reply(554, '5.6.0', 'message refused: NUL character in message'),
  mailLoop: reply(554, '5.4.6', 'too many Received headers: mail loop?'),
  localError: reply(451, '4.3.0', 'local error in processing, try again later'),
  accepted: (id: string) => reply(250, '2.0.0', `ok: queued as ${id}`),
} as const;

/** Formats a reply as it goes on the wire; lines[] make a multi-line reply (RFC 5321 section 4.2.1). */
export function formatReply(r: Reply, lines?: readonly string[]): string {
  const all = (lines ?? [r.text]).map(replyTextString);
  const prefix = r.enhanced ? `${r.enhanced} ` : '';
  return all.map((line, i) => `${r.code}${i < all.length - 1 ? '-' : ' '}${prefix}${line}\r\n`).join('');
}

/**
 * RFC 5321 §4.2: textstring = 1*( %d09 / %d32-126 ), printable ASCII. A reply text is
 * made of constants, host names and what policy steps return; anything else in it (a
 * CR or LF above all, which would start another reply) is written as "?".
 */
export function replyTextString(text: string): string {
  return text.replace(/[^\x09\x20-\x7e]/g, '?');
}
