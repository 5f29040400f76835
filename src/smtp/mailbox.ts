// RFC 5321 §4.1.2 Mailbox = Local-part "@" ( Domain / address-literal ), strictly, with
// RFC 6531 §3.3's UTF-8 in atoms, quoted strings and domain labels. The local part is a
// Dot-string or a Quoted-string; an atom cannot hold "@", so outside quotes there is
// exactly one "@" and it separates local part and domain (a second one makes the domain
// invalid: "a@b@c" is no mailbox). Parsing only reports what the mailbox is; what to
// refuse (source routes, %, !, literals, "@" inside quotes) is the policy's job.
import { domainToASCII } from 'node:url';
import { isAddressLiteral } from './address-literal.ts';

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
  /** Non-ASCII anywhere in the path: allowed only with MAIL's SMTPUTF8 (RFC 6531 §3.4). */
  utf8: boolean;
}

// RFC 5321 §4.5.3.1.1-3: local part 64 octets, domain 255, path 256 (with the brackets).
const MAX_LOCAL = 64;
const MAX_DOMAIN = 255;
const MAX_PATH = 256;
// RFC 1035 §2.3.4: a label is at most 63 octets.
const MAX_LABEL = 63;

// RFC 5321 §4.1.2 Atom = 1*atext (RFC 5322 §3.2.3), plus UTF8-non-ascii (RFC 6531 §3.3).
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\u0080-\\uffff]+";
const DOT_STRING = new RegExp(`^${ATOM}(?:\\.${ATOM})*$`);
// QcontentSMTP = qtextSMTP (%d32-33 / %d35-91 / %d93-126, UTF-8) / quoted-pairSMTP ("\" %d32-126).
const QUOTED_CONTENT = /^(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\uffff]|\\[\x20-\x7e])*$/;
// sub-domain = Let-dig [Ldh-str], or a U-label (RFC 6531 §3.3; checked by the IDNA conversion).
const SUB_DOMAIN = /^[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9\u0080-\uffff-]*[A-Za-z0-9\u0080-\uffff])?$/;
const NON_ASCII = /[^\x00-\x7f]/;

/** The text between < and > of a path: an optional source route, then a Mailbox. */
export function parseMailbox(raw: string): MailPath | undefined {
  if (Buffer.byteLength(raw) > MAX_PATH - 2) return undefined;
  let rest = raw;
  let sourceRoute = false;
  if (rest.startsWith('@')) {
    // A-d-l = At-domain *( "," At-domain ), then ":"; a Domain holds no ":".
    const colon = rest.indexOf(':');
    if (colon < 0) return undefined;
    const route = rest.slice(0, colon).split(',');
    if (!route.every((hop) => hop.startsWith('@') && isDomain(hop.slice(1)))) return undefined;
    sourceRoute = true;
    rest = rest.slice(colon + 1);
  }

  const localPart = splitLocalPart(rest);
  if (!localPart || Buffer.byteLength(localPart.written) > MAX_LOCAL) return undefined;
  const { local, quoted } = localPart;
  const domainPart = rest.slice(localPart.written.length + 1);

  let domain: string;
  let domainLiteral = false;
  if (domainPart.startsWith('[')) {
    if (!isAddressLiteral(domainPart)) return undefined;
    domain = domainPart.slice(1, -1);
    domainLiteral = true;
  } else {
    const ascii = asciiDomain(domainPart);
    if (ascii === undefined) return undefined;
    domain = ascii;
  }
  const address = `${quoted ? JSON.stringify(local) : local}@${domainLiteral ? `[${domain}]` : domain}`;
  return { raw, sourceRoute, local, quoted, domain, domainLiteral, address, utf8: NON_ASCII.test(raw) };
}

/** RFC 5321 §4.1.2 Local-part = Dot-string / Quoted-string, up to the "@" that must follow it. */
function splitLocalPart(text: string): { written: string; local: string; quoted: boolean } | undefined {
  if (text.startsWith('"')) {
    const end = closingQuote(text);
    if (end < 0 || text[end + 1] !== '@') return undefined;
    const content = text.slice(1, end);
    if (!QUOTED_CONTENT.test(content)) return undefined;
    return { written: text.slice(0, end + 1), local: content.replace(/\\(.)/g, '$1'), quoted: true };
  }
  const at = text.indexOf('@');
  if (at <= 0) return undefined;
  const written = text.slice(0, at);
  return DOT_STRING.test(written) ? { written, local: written, quoted: false } : undefined;
}

/** The index of the quote that ends the Quoted-string opening text, or -1. */
export function closingQuote(text: string): number {
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

/** RFC 5321 §4.1.2 Domain = sub-domain *("." sub-domain). */
export function isDomain(text: string): boolean {
  return asciiDomain(text) !== undefined;
}

/** A Domain in A-labels, lower case (RFC 5890), or undefined when it is none or too long. */
function asciiDomain(text: string): string | undefined {
  if (!text.split('.').every((label) => SUB_DOMAIN.test(label))) return undefined;
  const ascii = domainToASCII(text).toLowerCase();
  if (ascii === '' || ascii.length > MAX_DOMAIN) return undefined;
  return ascii.split('.').every((label) => label.length <= MAX_LABEL) ? ascii : undefined;
}
