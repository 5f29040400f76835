// The Authentication-Results header field (RFC 8601): writing ours, and removing every
// incoming one that claims our authserv-id so that nobody can forge our verdict.
//
// SECURITY: every value here can come from the sender (addresses, domains, DKIM tags,
// DNS text): control characters are dropped, and each value is written as an RFC 2045
// token, an address, or a quoted-string, so it can neither end the field nor start
// another result.
import { parseHeaderSection } from '../mail/header.ts';

export interface ResultEntry {
  /** The method as registered ("spf", "dkim", "dmarc", "arc", "sender-id"). */
  method: string;
  result: string;
  /** A comment for people (RFC 8601 §2.2 allows CFWS anywhere). */
  comment?: string;
  /** ptype.property = value pairs, e.g. ["smtp.mailfrom", "joe@example.com"]. */
  properties?: [string, string][];
}

/** Comments are for people; a longer one (sender-controlled text in it) is cut. */
export const MAX_COMMENT = 200;

/** Fold before this column (RFC 5322 §2.1.1: lines SHOULD be at most 78 characters). */
export const FOLD_COLUMN = 78;

/**
 * One complete field, "Authentication-Results: <authserv-id>; <resinfo>; …\r\n"
 * (RFC 8601 §2.2), each resinfo on its own line, folded with CRLF + tab. No results is
 * "<authserv-id>; none".
 */
export function formatAuthenticationResults(authservId: string, entries: readonly ResultEntry[]): string {
  const lines: string[] = [];
  let line = `Authentication-Results: ${formatValue(authservId)};`;
  if (entries.length === 0) return `${line} none\r\n`;
  entries.forEach((entry, index) => {
    lines.push(line);
    const pieces = resinfoPieces(entry);
    const last = index < entries.length - 1 ? pieces.length - 1 : -1; // it gets the ";"
    line = '\t' + pieces[0]!;
    for (const [i, piece] of pieces.entries()) {
      if (i === 0) continue;
      if (line.length + 1 + piece.length + (i === last ? 1 : 0) > FOLD_COLUMN) {
        lines.push(line);
        line = '\t' + piece;
      } else {
        line += ' ' + piece;
      }
    }
    if (index < entries.length - 1) line += ';';
  });
  lines.push(line);
  return lines.join('\r\n') + '\r\n';
}

/** The unbreakable pieces of one resinfo: "method=result", comment words, each propspec. */
function resinfoPieces(entry: ResultEntry): string[] {
  const pieces = [`${keyword(entry.method)}=${keyword(entry.result)}`];
  const comment = clean(entry.comment ?? '').slice(0, MAX_COMMENT);
  if (comment) {
    // Folding between words inside a comment is allowed (ctext and FWS, RFC 5322 §3.2.2).
    const words = comment.replace(/[\\()]/g, (c) => `\\${c}`).split(' ');
    words[0] = `(${words[0]}`;
    words[words.length - 1] = `${words[words.length - 1]})`;
    pieces.push(...words);
  }
  for (const [name, value] of entry.properties ?? []) {
    const formatted = formatPropertyValue(value);
    if (formatted) pieces.push(`${name}=${formatted}`);
  }
  return pieces;
}

// RFC 2045 §5.1: token = 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>.
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;
// RFC 5322 §3.2.3 dot-atom-text, for the local-part of an address value.
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;
const DOMAIN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;

/** Drops control characters and collapses white space. */
function clean(value: string): string {
  return value
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** A method or result keyword: letters, digits and "-" only. */
function keyword(value: string): string {
  return value.replace(/[^A-Za-z0-9-]/g, '') || 'none';
}

/** value = token / quoted-string (RFC 8601 §2.2, RFC 2045). */
function formatValue(value: string): string {
  const text = clean(value);
  return TOKEN.test(text) ? text : quote(text);
}

/** pvalue = value / [ [ local-part ] "@" ] domain-name (RFC 8601 §2.2). */
function formatPropertyValue(value: string): string {
  const text = clean(value);
  if (!text) return '';
  if (TOKEN.test(text)) return text;
  const at = text.lastIndexOf('@');
  if (at >= 0) {
    const local = text.slice(0, at);
    const domain = text.slice(at + 1);
    if (DOMAIN.test(domain) && (local === '' || DOT_ATOM.test(local))) return text;
    if (DOMAIN.test(domain) && /^"(?:[^"\\]|\\.)*"$/.test(local)) return text;
  }
  return quote(text);
}

const quote = (text: string) => `"${text.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/**
 * The message without the incoming Authentication-Results fields whose authserv-id is
 * ours (compared case-insensitively, a trailing root dot ignored): RFC 8601 §5 — an
 * MTA MUST NOT let through such fields from outside, or anyone could forge our verdict.
 * Fields of other authserv-ids stay, as do ARC-Authentication-Results (they are part of
 * the sealed ARC sets, RFC 8617). The same Buffer comes back when nothing was removed.
 * Verify DKIM/ARC on the message as received first: removal can break a signature that
 * covered such a field (RFC 8601 §5).
 */
export function removeOwnAuthResults(message: Buffer, authservId: string): Buffer {
  const drop = ownAuthResultsFields(message, authservId);
  if (drop.length === 0) return message;
  const parts: Buffer[] = [];
  let offset = 0;
  for (const field of drop) {
    parts.push(message.subarray(offset, field.start));
    offset = field.end;
  }
  parts.push(message.subarray(offset));
  return Buffer.concat(parts);
}

/** The Authentication-Results fields of a header that claim our authserv-id (offsets in it). */
export function ownAuthResultsFields(header: Buffer, authservId: string): { start: number; end: number }[] {
  const ours = normaliseId(authservId);
  return parseHeaderSection(header).fields.filter(
    (field) => field.name.toLowerCase() === 'authentication-results' && normaliseId(authservIdOf(field.value) ?? '') === ours,
  );
}

const normaliseId = (id: string) => id.trim().toLowerCase().replace(/\.$/, '');

/** The authserv-id of an Authentication-Results value: [CFWS] (token / quoted-string). */
export function authservIdOf(value: string): string | undefined {
  let i = skipCfws(value, 0);
  if (value[i] === '"') {
    let id = '';
    for (i++; i < value.length; i++) {
      const c = value[i]!;
      if (c === '\\') id += value[++i] ?? '';
      else if (c === '"') return id;
      else id += c;
    }
    return undefined;
  }
  const match = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+/.exec(value.slice(i));
  return match?.[0];
}

/** Skips white space and (nested) comments (RFC 5322 §3.2.2). */
function skipCfws(value: string, from: number): number {
  let i = from;
  let depth = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '(') {
      depth = 1;
    } else if (!/\s/.test(c)) {
      break;
    }
    i++;
  }
  return i;
}
