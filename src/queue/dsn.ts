// Delivery status notifications for mail a local user submitted: "could not be
// delivered" (a permanent failure, or retries given up) and "cancelled by the
// administrator" (`kakitome queue cancel`). Built here, delivered to the sender's own
// mailbox by bounce.ts; never sent to a remote address.
//
// STANDARDS: RFC 3464 (message/delivery-status fields), RFC 6522 (multipart/report),
// RFC 3462/6522 §4 (text/rfc822-headers: only the original header is returned, not the
// body), RFC 3834 (Auto-Submitted: auto-replied), RFC 3461 §4 (xtext for addresses),
// RFC 5322 (CRLF line ends, Date, Message-ID), RFC 3463 (status codes).
import { randomHex } from '../mail/random-id.ts';
import { rfc5322Date } from '../mail/date.ts';

export interface DsnRecipient {
  recipient: string;
  /** RFC 3463 status, e.g. "5.1.1". */
  status: string;
  /** Human-readable reason. */
  reason: string;
  /** The remote server's reply ("550 5.1.1 no such user"), for Diagnostic-Code. */
  diagnostic?: string;
  /** The remote server's name, for Remote-MTA. */
  remoteMta?: string;
  lastAttemptAt?: Date;
}

export interface DsnInput {
  kind: 'failed' | 'cancelled';
  /** Our host name: Reporting-MTA and the MAILER-DAEMON address. */
  hostname: string;
  /** The original envelope sender, who receives the notice. */
  sender: string;
  queueId: string;
  arrivalDate: Date;
  recipients: readonly DsnRecipient[];
  /** The original message's header section (headerSection()). */
  originalHeader: Buffer;
  date?: Date;
}

export const DSN_SUBJECT = { failed: 'Undelivered Mail Returned to Sender', cancelled: 'Undelivered Mail: cancelled by the administrator' } as const;
/** Returned header bytes at most; a longer header is cut at a line end. */
export const MAX_RETURNED_HEADER_BYTES = 64 * 1024;

const CRLF = '\r\n';

/** The complete notice as a message file (CRLF line ends), ready for local delivery. */
export function buildDsn(input: DsnInput): Buffer {
  const date = input.date ?? new Date();
  const boundary = `=_kakitome_report_${randomHex(12)}`;
  const mailerDaemon = `MAILER-DAEMON@${input.hostname}`;
  const header = [
    'Return-Path: <>',
    `From: Mail Delivery System <${mailerDaemon}>`,
    `To: <${oneLine(input.sender)}>`,
    `Subject: ${DSN_SUBJECT[input.kind]}`,
    `Date: ${rfc5322Date(date)}`,
    `Message-ID: <${randomHex(12)}.${input.queueId}@${input.hostname}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;${CRLF}\tboundary="${boundary}"`,
  ];
  const human = humanText(input);
  const status = deliveryStatus(input);
  // RFC 2045 §6.4: a multipart entity is 8bit when any of its parts is.
  const eightBit = encodingOf(Buffer.from(human)) === '8bit' || encodingOf(input.originalHeader) === '8bit';
  header.push(`Content-Transfer-Encoding: ${eightBit ? '8bit' : '7bit'}`);
  const parts: Buffer[] = [
    text(header.join(CRLF) + CRLF + CRLF + 'This is a MIME-formatted delivery status notification.' + CRLF + CRLF),
    text(`--${boundary}${CRLF}`),
    text(
      `Content-Type: text/plain; charset=utf-8${CRLF}` +
        `Content-Description: Notification${CRLF}` +
        `Content-Transfer-Encoding: ${encodingOf(Buffer.from(human))}${CRLF}${CRLF}` +
        human,
    ),
    text(`${CRLF}--${boundary}${CRLF}`),
    text(
      `Content-Type: message/delivery-status${CRLF}` +
        `Content-Description: Delivery report${CRLF}` +
        `Content-Transfer-Encoding: 7bit${CRLF}${CRLF}` +
        status,
    ),
    text(`${CRLF}--${boundary}${CRLF}`),
    text(
      `Content-Type: text/rfc822-headers${CRLF}` +
        `Content-Description: Undelivered message header${CRLF}` +
        `Content-Transfer-Encoding: ${encodingOf(input.originalHeader)}${CRLF}${CRLF}`,
    ),
    input.originalHeader,
    text(`${input.originalHeader.length > 0 && !endsWithCrlf(input.originalHeader) ? CRLF : ''}${CRLF}--${boundary}--${CRLF}`),
  ];
  return Buffer.concat(parts);
}

/** The header section of a message (up to, not including, the empty line), bounded. */
export function headerSection(message: Buffer, maxBytes = MAX_RETURNED_HEADER_BYTES): Buffer {
  if (message.subarray(0, 2).toString('latin1') === CRLF) return Buffer.alloc(0);
  const end = message.indexOf('\r\n\r\n');
  let header = end < 0 ? message : message.subarray(0, end + 2);
  if (header.length > maxBytes) {
    const cut = header.lastIndexOf('\r\n', maxBytes - 2);
    header = cut < 0 ? Buffer.alloc(0) : header.subarray(0, cut + 2);
  }
  return header;
}

function humanText(input: DsnInput): string {
  const received = `queued as ${input.queueId}, received ${rfc5322Date(input.arrivalDate)}`;
  const lines = [`This is the mail system at ${input.hostname}.`, ''];
  if (input.kind === 'failed') {
    lines.push(
      `Your message (${received}) could not be delivered`,
      'to the following recipients:',
      '',
    );
    for (const r of input.recipients) {
      lines.push(`<${oneLine(r.recipient)}>: ${oneLine(r.reason)}`);
      if (r.diagnostic) lines.push(`    ${r.remoteMta ? `${oneLine(r.remoteMta)} said` : 'the remote server said'}: ${oneLine(r.diagnostic)}`);
      lines.push('');
    }
  } else {
    lines.push(
      `Your message (${received}) was cancelled by the`,
      'administrator before it was sent, and was not delivered to:',
      '',
      ...input.recipients.map((r) => `<${oneLine(r.recipient)}>`),
      '',
      'Copies for recipients on this server, if any, were delivered as usual.',
      '',
    );
  }
  lines.push('The header of your message is attached below.', '');
  return lines.join(CRLF);
}

/** RFC 3464 §2.1: per-message fields, then one block of per-recipient fields each. */
function deliveryStatus(input: DsnInput): string {
  const blocks = [[`Reporting-MTA: dns; ${input.hostname}`, `X-Queue-ID: ${input.queueId}`, `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`]];
  for (const r of input.recipients) {
    const block = [`Final-Recipient: ${finalRecipient(r.recipient)}`, 'Action: failed', `Status: ${r.status}`];
    if (r.remoteMta) block.push(`Remote-MTA: dns; ${r.remoteMta}`);
    if (r.diagnostic) block.push(`Diagnostic-Code: smtp; ${r.diagnostic}`);
    else block.push(`Diagnostic-Code: x-kakitome; ${r.reason}`);
    if (r.lastAttemptAt) block.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptAt)}`);
    blocks.push(block);
  }
  // 7bit part: anything else in the (already cleaned) texts is encoded away.
  return blocks.map((block) => block.map(asciiOnly).join(CRLF) + CRLF).join(CRLF);
}

/**
 * The Final-Recipient value: "rfc822; address" for an ASCII address (RFC 3464 §2.3.2);
 * otherwise RFC 6533 §3's "utf-8; " with utf-8-addr-xtext, which keeps the part 7-bit.
 */
function finalRecipient(address: string): string {
  if (/^[\x21-\x7e]+$/.test(address)) return `rfc822; ${address}`;
  let out = '';
  for (const char of address) {
    const code = char.codePointAt(0)!;
    const plain = code >= 0x21 && code <= 0x7e && char !== '+' && char !== '=' && char !== '\\';
    out += plain ? char : `\\x{${code.toString(16).toUpperCase()}}`;
  }
  return `utf-8; ${out}`;
}

/** Text from outside (addresses, remote replies) on one line: no CR, LF or other controls. */
function oneLine(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
}

function asciiOnly(line: string): string {
  return line.replace(/[^\x20-\x7e\t]/g, '?');
}

function encodingOf(content: Buffer): '7bit' | '8bit' {
  return content.some((byte) => byte > 0x7f) ? '8bit' : '7bit';
}

function endsWithCrlf(content: Buffer): boolean {
  return content.length >= 2 && content[content.length - 2] === 0x0d && content[content.length - 1] === 0x0a;
}

function text(content: string): Buffer {
  return Buffer.from(content, 'utf8');
}
