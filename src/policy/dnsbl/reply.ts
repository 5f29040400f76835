// The SMTP reply for a listed client, in the wording Postfix made familiar, so that
// senders and their admins recognise it and know where to look.
import type { Reply } from '../../mail/reply.ts';
import type { DnsblListing } from './checker.ts';
import { displayAddress } from './query-name.ts';

/** RFC 5321 §3.1/§4.2.3: 554 refuses the session; RFC 3463 §3.8: X.7.1 delivery not authorized. */
export const DNSBL_REPLY_CODE = 554;
export const DNSBL_ENHANCED_CODE = '5.7.1';

/** RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with its code and CRLF. */
const MAX_REPLY_LINE = 512;

export function dnsblReply(result: DnsblListing, ip: string): Reply {
  const head = `Service unavailable; client [${displayAddress(ip)}] blocked using ${result.zone}`;
  const room = MAX_REPLY_LINE - `${DNSBL_REPLY_CODE} ${DNSBL_ENHANCED_CODE} `.length - 2 - head.length - 2;
  // result.text is sanitised by the checker (printable ASCII); only the length is checked here.
  const text = result.text.length > room ? `${result.text.slice(0, Math.max(0, room - 3))}...` : result.text;
  return { code: DNSBL_REPLY_CODE, enhanced: DNSBL_ENHANCED_CODE, text: `${head}; ${text}` };
}
