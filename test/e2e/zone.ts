// Zone-file text (RFC 1035 §5.1), as `kakitome dns DOMAIN` and `kakitome init` print
// it, turned into the DNS fixture's records (test/harness/dns.ts), so the end-to-end
// tests publish exactly what an administrator would be told to publish.
//
// What is understood, in the subset a mail server prints:
// - `;` starts a comment, except inside a quoted string ("v=DKIM1; k=rsa; …");
// - `( … )` continues a record over several lines;
// - a record's owner is its first token, or the previous record's owner when the line
//   starts with blanks; `@` is the origin; a name without a final dot is relative to
//   `$ORIGIN` (or the `origin` option); `$TTL` is accepted and ignored;
// - TTL and class (IN) are optional, in either order;
// - TXT: every quoted (or bare) character-string of the record, joined back into one
//   value (RFC 7208 §3.3, RFC 6376 §3.6.2.2: verifiers concatenate them), with the
//   escapes `\"`, `\\` and `\DDD`;
// - A, AAAA, MX, TXT, CNAME and PTR become fixture records; other types (SRV, TLSA,
//   CAA…) are returned in `unsupported`, since the fixture cannot serve them.
//
// `kakitome init` prints prose around its records ("created …", "next: …"): with
// `strict: false` lines that are not zone syntax are set aside in `prose`; with
// `strict: true` (the default) they are an error, since `kakitome dns` promises zone
// syntax only.
import type { DnsRecords, MxTarget } from '../harness/dns.ts';

export interface ZoneEntry {
  /** Owner name, absolute, without the final dot, lower case. */
  name: string;
  ttl?: number;
  type: string;
  /** The record data: for TXT the joined value, for MX "pref host", otherwise the tokens joined by one space. */
  data: string;
  /** TXT only: the character-strings as written (after unescaping). */
  strings?: string[];
  /** Line number (1-based) where the record starts. */
  line: number;
}

export interface ParsedZone {
  records: DnsRecords;
  entries: ZoneEntry[];
  unsupported: ZoneEntry[];
  /** Lines that are not zone syntax (only with strict: false). */
  prose: string[];
}

export interface ZoneOptions {
  /** Origin for relative names and `@` (without or with final dot). */
  origin?: string;
  /** Default true: a line that is not zone syntax is an error. */
  strict?: boolean;
}

const SUPPORTED = new Set(['A', 'AAAA', 'MX', 'TXT', 'CNAME', 'PTR']);
const KNOWN_TYPES = new Set([...SUPPORTED, 'NS', 'SOA', 'SRV', 'TLSA', 'CAA', 'SPF', 'HINFO', 'SSHFP', 'DNAME', 'HTTPS', 'SVCB', 'NAPTR', 'DS', 'DNSKEY']);
const CLASSES = new Set(['IN', 'CH', 'HS']);

interface Token {
  text: string;
  /** Was written in double quotes (so `;`, `(`, blanks are data). */
  quoted: boolean;
}

class ZoneSyntaxError extends Error {
  constructor(line: number, message: string, text: string) {
    super(`zone line ${line}: ${message}: ${JSON.stringify(text)}`);
  }
}

/**
 * Tokenises one physical line, continuing an open parenthesis. Returns the tokens,
 * the parenthesis depth after the line, and whether the line had anything but a comment.
 */
function tokenizeLine(text: string, lineNo: number, depth: number): { tokens: Token[]; depth: number } {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      i++;
    } else if (ch === ';') {
      break; // comment to end of line
    } else if (ch === '(') {
      depth++;
      i++;
    } else if (ch === ')') {
      if (depth === 0) throw new ZoneSyntaxError(lineNo, 'unbalanced ")"', text);
      depth--;
      i++;
    } else if (ch === '"') {
      let value = '';
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i]!;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === '\\') {
          const rest = text.slice(i + 1);
          const ddd = /^\d{3}/.exec(rest);
          if (ddd) {
            value += String.fromCharCode(Number(ddd[0]));
            i += 4;
          } else if (rest.length > 0) {
            value += rest[0];
            i += 2;
          } else {
            throw new ZoneSyntaxError(lineNo, 'backslash at end of line', text);
          }
          continue;
        }
        value += c;
        i++;
      }
      if (!closed) throw new ZoneSyntaxError(lineNo, 'unterminated quoted string', text);
      tokens.push({ text: value, quoted: true });
    } else {
      let value = '';
      while (i < text.length && !/[\s;()"]/.test(text[i]!)) {
        if (text[i] === '\\' && i + 1 < text.length) {
          const ddd = /^\d{3}/.exec(text.slice(i + 1));
          if (ddd) {
            value += String.fromCharCode(Number(ddd[0]));
            i += 4;
            continue;
          }
          value += text[i + 1];
          i += 2;
          continue;
        }
        value += text[i];
        i++;
      }
      tokens.push({ text: value, quoted: false });
    }
  }
  return { tokens, depth };
}

/** Whether a physical line (outside parentheses) looks like the start of a zone entry. */
function looksLikeZone(line: string): boolean {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith(';')) return true;
  if (/^\$(ORIGIN|TTL|INCLUDE)\b/i.test(trimmed)) return true;
  // [owner] [ttl] [class] [ttl] TYPE …
  const words = trimmed.split(/\s+/);
  const start = /^\s/.test(line) ? 0 : 1;
  for (let k = start; k < Math.min(words.length, start + 3); k++) {
    const word = words[k]!.toUpperCase();
    if (KNOWN_TYPES.has(word)) return k + 1 < words.length || word === 'TXT';
    if (!/^\d+$/.test(word) && !CLASSES.has(word)) return false;
  }
  return false;
}

function absoluteName(name: string, origin: string | undefined, lineNo: number, text: string): string {
  if (name === '@') {
    if (!origin) throw new ZoneSyntaxError(lineNo, '"@" without an origin', text);
    return origin;
  }
  if (name.endsWith('.')) return name.slice(0, -1).toLowerCase();
  if (!origin) throw new ZoneSyntaxError(lineNo, `relative name "${name}" without an origin`, text);
  return `${name}.${origin}`.toLowerCase();
}

/** Parses zone-file text into fixture records (see the top of this file). */
export function parseZone(text: string, options: ZoneOptions = {}): ParsedZone {
  const strict = options.strict ?? true;
  let origin = options.origin?.replace(/\.$/, '').toLowerCase();
  const entries: ZoneEntry[] = [];
  const prose: string[] = [];
  let previousOwner: string | undefined;

  const lines = text.split('\n');
  let pending: { tokens: Token[]; startsWithBlank: boolean; line: number; text: string } | undefined;
  let depth = 0;

  const finish = (record: { tokens: Token[]; startsWithBlank: boolean; line: number; text: string }) => {
    const tokens = [...record.tokens];
    if (tokens.length === 0) return;
    const first = tokens[0]!;
    if (!first.quoted && first.text.startsWith('$')) {
      const directive = first.text.toUpperCase();
      if (directive === '$ORIGIN') {
        const value = tokens[1]?.text;
        if (!value) throw new ZoneSyntaxError(record.line, '$ORIGIN without a name', record.text);
        origin = absoluteName(value.endsWith('.') ? value : `${value}.`, origin, record.line, record.text);
      } else if (directive !== '$TTL') {
        throw new ZoneSyntaxError(record.line, `unsupported directive ${first.text}`, record.text);
      }
      return;
    }
    let owner: string;
    if (record.startsWithBlank) {
      if (!previousOwner) throw new ZoneSyntaxError(record.line, 'a record without an owner', record.text);
      owner = previousOwner;
    } else {
      owner = absoluteName(tokens.shift()!.text, origin, record.line, record.text);
    }
    previousOwner = owner;
    let ttl: number | undefined;
    let type: string | undefined;
    while (tokens.length > 0) {
      const token = tokens.shift()!;
      const upper = token.text.toUpperCase();
      if (!token.quoted && /^\d+$/.test(token.text) && ttl === undefined) ttl = Number(token.text);
      else if (!token.quoted && CLASSES.has(upper)) continue;
      else {
        type = upper;
        break;
      }
    }
    if (!type || !KNOWN_TYPES.has(type)) throw new ZoneSyntaxError(record.line, `unknown record type ${type ?? '(none)'}`, record.text);
    const entry: ZoneEntry = { name: owner, type, data: '', line: record.line };
    if (ttl !== undefined) entry.ttl = ttl;
    if (type === 'TXT' || type === 'SPF') {
      if (tokens.length === 0) throw new ZoneSyntaxError(record.line, 'TXT without data', record.text);
      entry.strings = tokens.map((t) => t.text);
      entry.data = entry.strings.join('');
    } else if (type === 'MX') {
      if (tokens.length !== 2 || !/^\d+$/.test(tokens[0]!.text)) throw new ZoneSyntaxError(record.line, 'MX needs "preference host"', record.text);
      const host = tokens[1]!.text === '.' ? '.' : absoluteName(tokens[1]!.text, origin, record.line, record.text);
      entry.data = `${Number(tokens[0]!.text)} ${host}`;
    } else if (type === 'CNAME' || type === 'PTR' || type === 'NS') {
      if (tokens.length !== 1) throw new ZoneSyntaxError(record.line, `${type} needs one name`, record.text);
      entry.data = absoluteName(tokens[0]!.text, origin, record.line, record.text);
    } else {
      if (tokens.length === 0) throw new ZoneSyntaxError(record.line, `${type} without data`, record.text);
      entry.data = tokens.map((t) => t.text).join(' ');
    }
    entries.push(entry);
  };

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.replace(/\r$/, '');
    const lineNo = index + 1;
    if (depth === 0) {
      if (!looksLikeZone(line)) {
        if (strict) throw new ZoneSyntaxError(lineNo, 'not zone-file syntax', line);
        prose.push(line);
        continue;
      }
      const { tokens, depth: after } = tokenizeLine(line, lineNo, 0);
      depth = after;
      pending = { tokens, startsWithBlank: /^[ \t]/.test(line), line: lineNo, text: line };
    } else {
      const { tokens, depth: after } = tokenizeLine(line, lineNo, depth);
      depth = after;
      pending!.tokens.push(...tokens);
      pending!.text += `\n${line}`;
    }
    if (depth === 0 && pending) {
      finish(pending);
      pending = undefined;
    }
  }
  if (depth !== 0) throw new ZoneSyntaxError(pending?.line ?? lines.length, 'unclosed "("', pending?.text ?? '');

  const records: DnsRecords = {};
  const unsupported: ZoneEntry[] = [];
  for (const entry of entries) {
    if (!SUPPORTED.has(entry.type)) {
      unsupported.push(entry);
      continue;
    }
    addEntry(records, entry);
  }
  return { records, entries, unsupported, prose };
}

function push<T>(table: Record<string, T | T[]>, name: string, value: T): void {
  const existing = table[name];
  table[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
}

function addEntry(records: DnsRecords, entry: ZoneEntry): void {
  switch (entry.type) {
    case 'A':
      push((records.a ??= {}), entry.name, entry.data);
      break;
    case 'AAAA':
      push((records.aaaa ??= {}), entry.name, entry.data);
      break;
    case 'TXT':
      push((records.txt ??= {}), entry.name, entry.data);
      break;
    case 'MX': {
      const [priority, exchange] = entry.data.split(' ');
      push<MxTarget>((records.mx ??= {}), entry.name, { exchange: exchange!, priority: Number(priority) });
      break;
    }
    case 'CNAME':
      (records.cname ??= {})[entry.name] = entry.data;
      break;
    case 'PTR':
      (records.ptr ??= {})[entry.name] = entry.data;
      break;
  }
}

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

function mergeLists<T>(into: Record<string, T | T[]>, from: Record<string, T | T[]> | undefined, same: (x: T, y: T) => boolean): void {
  for (const [name, value] of Object.entries(from ?? {})) {
    for (const item of asList(value)) {
      const existing = into[name] === undefined ? [] : asList(into[name]!);
      if (!existing.some((e) => same(e, item))) push(into, name, item);
    }
  }
}

/**
 * Several record sets as one: records of the same name and type are added together
 * (a domain's SPF TXT and another TXT both stay), exact duplicates once.
 */
export function mergeRecords(...sets: DnsRecords[]): DnsRecords {
  const merged: Required<DnsRecords> = { a: {}, aaaa: {}, mx: {}, txt: {}, cname: {}, ptr: {} };
  const eq = <T>(x: T, y: T) => x === y;
  for (const set of sets) {
    mergeLists(merged.a, set.a, eq);
    mergeLists(merged.aaaa, set.aaaa, eq);
    mergeLists(merged.txt, set.txt, eq);
    mergeLists(merged.mx, set.mx, (x, y) => x.exchange === y.exchange && x.priority === y.priority);
    for (const [name, target] of Object.entries(set.cname ?? {})) {
      if (merged.cname[name] !== undefined && merged.cname[name] !== target) throw new Error(`two CNAMEs for ${name}`);
      merged.cname[name] = target;
    }
    for (const [name, target] of Object.entries(set.ptr ?? {})) merged.ptr[name] = target;
  }
  return merged;
}

/** The TXT values published at `name` (several records → several values). */
export function txtValues(records: DnsRecords, name: string): string[] {
  const value = records.txt?.[name.replace(/\.$/, '').toLowerCase()];
  return value === undefined ? [] : asList(value);
}

/** The DKIM key records of `domain`: selector → TXT value. */
export function dkimKeys(records: DnsRecords, domain: string): Map<string, string> {
  const suffix = `._domainkey.${domain.toLowerCase()}`;
  const keys = new Map<string, string>();
  for (const [name, value] of Object.entries(records.txt ?? {})) {
    if (!name.endsWith(suffix)) continue;
    for (const text of asList(value)) keys.set(name.slice(0, -suffix.length), text);
  }
  return keys;
}

/** Tag=value pairs (RFC 6376 §3.2) of a DKIM, DMARC or DKIM key record. */
export function tagList(value: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ''));
  }
  return tags;
}
