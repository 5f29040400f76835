// The Received header field a receiving SMTP server prepends (RFC 5321 §4.4), with
// the protocol names of RFC 3848 (ESMTPS = ESMTP over TLS, ESMTPA/ESMTPSA = with AUTH).
import { isIPv6 } from 'node:net';
import { plainAddress } from '../policy/access/networks.ts';

export interface ReceivedInfo {
  helo: string;
  esmtp: boolean;
  remoteAddress: string;
  hostname: string;
  tls: { protocol: string; cipher: string } | null;
  authenticated: boolean;
  /** Off for submission by default: a user's private address must not leak to recipients. */
  showClientAddress: boolean;
  queueId: string;
  /** Named only when there is exactly one recipient, so others' addresses are not disclosed. */
  recipient?: string;
  date: Date;
}

export function receivedHeader(info: ReceivedInfo): string {
  const address = plainAddress(info.remoteAddress);
  const literal = isIPv6(address) ? `[IPv6:${address}]` : `[${address}]`;
  const protocol =
    (info.esmtp ? 'ESMTP' : 'SMTP') + (info.esmtp && info.tls ? 'S' : '') + (info.esmtp && info.authenticated ? 'A' : '');
  const tls = info.tls ? ` (${info.tls.protocol} cipher ${info.tls.cipher})` : '';
  const forClause = info.recipient ? `\r\n\tfor <${info.recipient}>` : '';
  const from = info.showClientAddress ? `${info.helo} (${literal})` : info.helo;
  return (
    `Received: from ${from}\r\n` +
    `\tby ${info.hostname} with ${protocol}${tls} id ${info.queueId}${forClause};\r\n` +
    `\t${rfc5322Date(info.date)}\r\n`
  );
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 §3.3 date-time in UTC: "Mon, 23 Nov 2026 01:39:17 +0000". */
export function rfc5322Date(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
  );
}
