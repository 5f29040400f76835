// MAIL stage: the ESMTP parameters this server advertises, and SIZE against the limit.
import type { MailParams, MailPath } from '../smtp/path.ts';
import { REPLY } from '../smtp/replies.ts';
import { accept, refuse, type Verdict } from '../smtp/verdict.ts';

const BODY_TYPES = new Set(['7BIT', '8BITMIME']);

export async function checkMailFrom(
  _path: MailPath | null,
  params: MailParams,
  maxMessageBytes: number,
): Promise<Verdict> {
  for (const [key, value] of params) {
    switch (key) {
      case 'SIZE': // RFC 1870 §6: refuse at MAIL what is announced as too big.
        if (typeof value !== 'string' || !/^\d{1,20}$/.test(value)) return refuse(REPLY.syntax);
        if (Number(value) > maxMessageBytes) return refuse(REPLY.messageTooBig);
        break;
      case 'BODY': // RFC 6152
        if (typeof value !== 'string' || !BODY_TYPES.has(value.toUpperCase())) return refuse(REPLY.badParameter);
        break;
      case 'SMTPUTF8': // RFC 6531 §3.4: no value
        if (value !== true) return refuse(REPLY.badParameter);
        break;
      default:
        return refuse(REPLY.badParameter);
    }
  }
  return accept(undefined);
}
