// MAIL FROM / RCPT TO arguments: RFC 5321 §4.1.1.2-3 "FROM:" / "TO:", a §4.1.2 path
// ("<" [A-d-l ":"] Mailbox ">", the mailbox in ./mailbox.ts) and §4.1.1.11 parameters.
// The problems are told apart because their replies differ: a command that is not
// "FROM:<…>" at all is a syntax error (501), a path whose mailbox is malformed is a bad
// mailbox (553 X.1.7 / X.1.3, RFC 3463 §3.2), a bad parameter is 555.
import { isAddressLiteral } from './address-literal.ts';
import { closingQuote, isDomain, parseMailbox, type MailPath } from './mailbox.ts';

export type { MailPath };

export type MailParams = Map<string, string | true>;

export type PathProblem = 'syntax' | 'mailbox' | 'parameter';

export type PathArgument =
  | { ok: true; path: MailPath | null; postmaster: boolean; params: MailParams }
  | { ok: false; problem: PathProblem };

// esmtp-param = esmtp-keyword ["=" esmtp-value] (RFC 5321 §4.1.2).
const ESMTP_PARAM = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3c\x3e-\x7e]+))?$/;

/**
 * Parses "FROM:<path> params" or "TO:<path> params" (the text after MAIL / RCPT).
 * A space after the colon is tolerated (common in the wild); nothing else is.
 */
export function parsePathArgument(argument: string, keyword: 'FROM' | 'TO'): PathArgument {
  const prefix = new RegExp(`^${keyword}: ?`, 'i').exec(argument);
  if (!prefix) return { ok: false, problem: 'syntax' };
  const rest = argument.slice(prefix[0].length);
  const end = pathEnd(rest);
  if (end < 0) return { ok: false, problem: 'mailbox' };
  const inner = rest.slice(1, end);
  const tail = rest.slice(end + 1);
  if (tail !== '' && !tail.startsWith(' ')) return { ok: false, problem: 'syntax' };
  const params = parseParams(tail.slice(1));
  if (!params) return { ok: false, problem: 'parameter' };
  if (inner === '') {
    // RFC 5321 §4.1.1.2: "<>" is the null reverse-path; a forward-path is never empty.
    return keyword === 'FROM' ? { ok: true, path: null, postmaster: false, params } : { ok: false, problem: 'mailbox' };
  }
  // RFC 5321 §4.1.1.3: RCPT TO:<Postmaster> without a domain must be accepted.
  if (keyword === 'TO' && inner.toLowerCase() === 'postmaster') return { ok: true, path: null, postmaster: true, params };
  const path = parseMailbox(inner);
  return path ? { ok: true, path, postmaster: false, params } : { ok: false, problem: 'mailbox' };
}

/**
 * The index of the ">" closing the path that opens `text`, or -1. A Quoted-string
 * local part may hold ">" (and "<"), so quotes are skipped as a whole.
 */
function pathEnd(text: string): number {
  if (!text.startsWith('<')) return -1;
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const close = closingQuote(text.slice(i));
      if (close < 0) return -1;
      i += close;
    } else if (c === '>') {
      return i;
    } else if (c === '<') {
      return -1;
    }
  }
  return -1;
}

function parseParams(text: string): MailParams | undefined {
  const params: MailParams = new Map();
  if (text === '') return params;
  for (const part of text.split(' ')) {
    const m = ESMTP_PARAM.exec(part);
    if (!m) return undefined;
    const key = m[1]!.toUpperCase();
    if (params.has(key)) return undefined;
    params.set(key, m[2] ?? true);
  }
  return params;
}

/**
 * RFC 6531 §3.4: a non-ASCII address needs MAIL's SMTPUTF8 parameter; without it the
 * reply is 553 X.6.7 (§3.5). `mailParams` are the transaction's MAIL parameters.
 */
export function lacksSmtpUtf8(path: MailPath | null, mailParams: MailParams): boolean {
  return path !== null && path.utf8 && !mailParams.has('SMTPUTF8');
}

/**
 * An EHLO/HELO argument: a domain or an address literal (RFC 5321 §4.1.1.1), the
 * literal as strict as in a path (§4.1.3): `[300.0.0.1]` or `[foo]` is neither.
 */
export function isHeloArgument(text: string): boolean {
  return text.startsWith('[') ? isAddressLiteral(text) : isDomain(text);
}
