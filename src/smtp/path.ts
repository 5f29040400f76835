// MAIL FROM / RCPT TO arguments: RFC 5321 §4.1.2 paths and §4.1.1.11 parameters,
// with RFC 6531 (SMTPUTF8) UTF-8 in local parts and domains. Parsing only reports
// what the path is; deciding what to refuse (source routes, %, !, literals) is the
// policy's job (src/mta/rcpt.ts).
import { domainToASCII } from 'node:url';

export interface MailPath {
  /** The text between < and >. */
  raw: string;
  /** RFC 5321 §4.1.2 A-d-l: "@relay1,@relay2:" before the mailbox (deprecated, §C). */
  sourceRoute: boolean;
  /** The local part as the client wrote it, without quotes (quoted-pairs resolved). */
  local: string;
  quoted: boolean;
  /** A-labels, lower case; for an address literal the text between the brackets. */
  domain: string;
  domainLiteral: boolean;
  /** local@domain with the local part as written (for logs and headers). */
  address: string;
}

export type MailParams = Map<string, string | true>;

export type PathArgument =
  | { ok: true; path: MailPath | null; postmaster: boolean; params: MailParams }
  | { ok: false; problem: 'syntax' | 'parameter' };

// RFC 5321 §4.5.3.1: local part 64, domain 255, path 256 octets (with the brackets).
const MAX_LOCAL = 64;
const MAX_DOMAIN = 255;
const MAX_PATH = 256;

// RFC 5322 atext, plus UTF-8 (RFC 6531 §3.3).
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\u0080-\\uffff]+";
const DOT_STRING = new RegExp(`^${ATOM}(?:\\.${ATOM})*$`);
const SUB_DOMAIN = /^[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9\u0080-\uffff-]*[A-Za-z0-9\u0080-\uffff])?$/;
const ESMTP_PARAM = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3c\x3e-\x7e]+))?$/;

/**
 * Parses "FROM:<path> params" or "TO:<path> params" (the text after MAIL / RCPT).
 * A space after the colon is tolerated (common in the wild); nothing else is.
 */
export function parsePathArgument(argument: string, keyword: 'FROM' | 'TO'): PathArgument {
  const match = new RegExp(`^${keyword}: ?<([^<>]*)>(?: (.*))?$`, 'i').exec(argument);
  if (!match) return { ok: false, problem: 'syntax' };
  const inner = match[1]!;
  const params = parseParams(match[2] ?? '');
  if (!params) return { ok: false, problem: 'parameter' };
  if (inner === '') {
    return keyword === 'FROM' ? { ok: true, path: null, postmaster: false, params } : { ok: false, problem: 'syntax' };
  }
  // RFC 5321 §4.1.1.3: RCPT TO:<Postmaster> without a domain must be accepted.
  if (keyword === 'TO' && inner.toLowerCase() === 'postmaster') return { ok: true, path: null, postmaster: true, params };
  const path = parseMailbox(inner);
  return path ? { ok: true, path, postmaster: false, params } : { ok: false, problem: 'syntax' };
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

export function parseMailbox(raw: string): MailPath | undefined {
  if (Buffer.byteLength(raw) > MAX_PATH - 2) return undefined;
  let rest = raw;
  let sourceRoute = false;
  if (rest.startsWith('@')) {
    const colon = rest.indexOf(':');
    if (colon < 0) return undefined;
    const route = rest.slice(0, colon).split(',');
    if (!route.every((hop) => hop.startsWith('@') && isDomain(hop.slice(1)))) return undefined;
    sourceRoute = true;
    rest = rest.slice(colon + 1);
  }

  let local: string;
  let quoted = false;
  let domainPart: string;
  if (rest.startsWith('"')) {
    const end = closingQuote(rest);
    if (end < 0 || rest[end + 1] !== '@') return undefined;
    const content = rest.slice(1, end);
    if (!/^(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\uffff]|\\[\x20-\x7e])*$/.test(content)) return undefined;
    local = content.replace(/\\(.)/g, '$1');
    quoted = true;
    domainPart = rest.slice(end + 2);
  } else {
    const at = rest.lastIndexOf('@');
    if (at <= 0) return undefined;
    local = rest.slice(0, at);
    domainPart = rest.slice(at + 1);
    // user@ext@local: an "@" in an unquoted local part is a routing trick; report it as
    // such (an atom with "@" would otherwise just be bad syntax).
    const atomic = local.split('@').every((piece) => DOT_STRING.test(piece));
    if (!atomic) return undefined;
  }
  if (Buffer.byteLength(local) > MAX_LOCAL) return undefined;

  let domain: string;
  let domainLiteral = false;
  if (domainPart.startsWith('[') && domainPart.endsWith(']')) {
    domain = domainPart.slice(1, -1);
    if (!/^[\x21-\x5a\x5e-\x7e]+$/.test(domain)) return undefined;
    domainLiteral = true;
  } else {
    if (!isDomain(domainPart)) return undefined;
    domain = domainToASCII(domainPart).toLowerCase();
    if (domain === '') return undefined;
  }
  const address = `${quoted ? JSON.stringify(local) : local}@${domainLiteral ? `[${domain}]` : domain}`;
  return { raw, sourceRoute, local, quoted, domain, domainLiteral, address };
}

function closingQuote(text: string): number {
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

function isDomain(text: string): boolean {
  if (text.length === 0 || Buffer.byteLength(text) > MAX_DOMAIN) return false;
  return text.split('.').every((label) => label.length <= 63 && SUB_DOMAIN.test(label));
}

/** An EHLO/HELO argument: a domain or an address literal (RFC 5321 §4.1.1.1). */
export function isHeloArgument(text: string): boolean {
  if (text.startsWith('[') && text.endsWith(']')) return /^\[[\x21-\x5a\x5e-\x7e]+\]$/.test(text);
  return isDomain(text);
}
