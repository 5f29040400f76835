// What the spam classifier reads of a message: its features, as strings. From the
// header, selected fields, each word prefixed with its field (`subject:free`); from the
// body, the text parts decoded — transfer encoding and charset (any the WHATWG encoding
// standard knows) — and HTML rendered to text, its words, adjacent word pairs (`a b`),
// and the URLs it links to by host and each parent domain (`url:example.com`); and the
// attachments by media type and file extension. Each feature counts once per message
// (the classifier is over presence, as bogofilter's and SpamBayes' are).
//
// Bounded: the walk is the attachment inspection's (src/filter/attachments/mime-walk.ts,
// bodies spooled past 1 MiB), text is read up to MAX_TEXT_OCTETS per part and
// MAX_TOKENS features per message.
import { walkMime, type MessageSource } from '../attachments/mime-walk.ts';
import { decodeCharset, parameterValues, parseFieldValue } from '../attachments/parameters.ts';
import { fieldText } from '../attachments/encoded-words.ts';
import { readPieces } from '../attachments/source.ts';
import { fnvMore, tokenHash } from './token-table.ts';

/** Octets of one text part read for tokens; the rest of a longer part is ignored. */
export const MAX_TEXT_OCTETS = 256 * 1024;
/** Distinct features kept per message. */
export const MAX_TOKENS = 20_000;
/** A media type, extension or host longer than this is shown by its length class, not itself. */
const MAX_NAME = 100;

/** `prefix:value`, or `prefix:(long)` for a value past MAX_NAME characters (a feature stays bounded). */
const named = (prefix: string, value: string) => `${prefix}:${value.length > MAX_NAME ? '(long)' : value}`;

/** Header fields whose words are features, by their lower-case name. */
const HEADER_FIELDS = new Set(['subject', 'from', 'to', 'cc', 'reply-to', 'sender', 'return-path', 'x-mailer', 'user-agent', 'content-type', 'message-id', 'list-id', 'organization', 'importance', 'x-priority']);

const URL = /\b(?:https?|ftp):\/\/([a-z0-9.-]+)/giu;
const ENTITY = /&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,8});/giu;
const NAMED_ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™', euro: '€', pound: '£', yen: '¥', cent: '¢',
  eacute: 'é', egrave: 'è', ecirc: 'ê', aacute: 'á', agrave: 'à', acirc: 'â', iacute: 'í', oacute: 'ó', uacute: 'ú', ccedil: 'ç', ntilde: 'ñ',
  auml: 'ä', ouml: 'ö', uuml: 'ü', szlig: 'ß', hellip: '…', mdash: '—', ndash: '–', rsquo: '’', lsquo: '‘', rdquo: '”', ldquo: '“', bull: '•',
};

export interface TokenOptions {
  /** Spool limits for decoded bodies (the walk's): a scratch directory for parts over 1 MiB. */
  scratchDir: string;
  maxBytes: number;
}

/** What the spam step reads of a message: its features (by tokenHash, each once), and for the rules its header fields and text. */
export interface MessageReading {
  tokens: Uint32Array;
  /** The top-level header fields, encoded words decoded. */
  fields: { name: string; value: string }[];
  /** The text parts as read (HTML as text), lower-cased, at most MAX_RULE_TEXT characters; '' unless asked for. */
  text: string;
}

/** Characters of text kept for the rules. */
export const MAX_RULE_TEXT = 1024 * 1024;

/** The features of a message, each once, by their tokenHash (the strings are never made: textTokens). */
export async function messageTokens(message: MessageSource, options: TokenOptions): Promise<Uint32Array> {
  return (await readMessage(message, options)).tokens;
}

/** Collects features: named ones as strings, the text's by their hash. */
interface FeatureSink {
  (token: string): void;
  hash(hash: number): void;
}

/** The features of a message and, with `withText`, its fields and text for the rules. */
export async function readMessage(message: MessageSource, options: TokenOptions & { withText?: boolean }): Promise<MessageReading> {
  // Kept as int32 (h | 0): V8 stores those unboxed, where half of all uint32 hashes would be heap numbers.
  const tokens = new Set<number>();
  const fields: { name: string; value: string }[] = [];
  const texts: string[] = [];
  let textLength = 0;
  const add = ((token: string) => {
    if (tokens.size < MAX_TOKENS) tokens.add(tokenHash(token) | 0);
  }) as FeatureSink;
  add.hash = (hash: number) => {
    if (tokens.size < MAX_TOKENS) tokens.add(hash | 0);
  };
  const walk = walkMime(message, {
    spool: { memoryLimit: 1024 * 1024, maxSize: Math.max(options.maxBytes, MAX_TEXT_OCTETS), scratchDir: options.scratchDir },
    keepBody: (leaf) => leaf.mediaType === 'text/plain' || leaf.mediaType === 'text/html',
  });
  for await (const event of walk) {
    if (event.kind === 'problem') {
      add(named('mime', event.problem));
      continue;
    }
    if (event.depth === 0) {
      headerTokens(event.fields, add);
      if (options.withText) {
        for (const field of event.fields) fields.push({ name: field.name, value: fieldText(field.value) });
      }
    }
    add(named('type', event.mediaType));
    if (event.structure !== 'leaf') continue;
    for (const name of event.names) {
      const dot = name.lastIndexOf('.');
      add(named('attachment', dot >= 0 ? name.slice(dot + 1).toLowerCase() : '(none)'));
    }
    if (!event.body || event.names.length > 0) continue;
    const octets = await readUpTo(event.body, MAX_TEXT_OCTETS);
    const charset = charsetOf(event.fields);
    let text = decodeCharset(octets, charset ?? 'us-ascii');
    if (event.mediaType === 'text/html') text = htmlText(text, add);
    else for (const url of text.matchAll(URL)) urlTokens(url[1]!, add);
    textTokens(text, '', add);
    if (options.withText && textLength < MAX_RULE_TEXT) {
      const kept = text.slice(0, MAX_RULE_TEXT - textLength).toLowerCase();
      texts.push(kept);
      textLength += kept.length + 1;
    }
  }
  return { tokens: Uint32Array.from(tokens), fields, text: texts.join('\n') };
}

/** The words of the fields that matter, each prefixed by its field's name. */
function headerTokens(fields: readonly { name: string; value: string }[], add: FeatureSink): void {
  for (const field of fields) {
    const name = field.name.toLowerCase();
    if (!HEADER_FIELDS.has(name)) continue;
    const value = fieldText(field.value);
    if (name === 'content-type') {
      add(named(name, parseFieldValue(value).value));
      continue;
    }
    textTokens(value, `${name}:`, add, name === 'subject');
  }
}

/**
 * Words (lower case, 2–40 characters, or a single letter or digit) and, with pairs,
 * adjacent pairs: the features `prefix + word`, `prefix + "upper:" + word` for a word in
 * capitals (FREE against free) and `prefix + previous + " " + word`, hashed as they are
 * read (fnvMore), never made as strings.
 *
 * A word is what /[\p{L}\p{N}$€£¥][\p{L}\p{N}$€£¥'.!%-]*[\p{L}\p{N}$€£¥!%]|[\p{L}\p{N}$€£¥]/u
 * matches: it starts with a letter, digit or currency sign, goes on through those and
 * ' . ! % -, and ends at the last letter, digit, sign, ! or % of that run. The scan below finds exactly those matches by character class (a table), and
 * hashes an ASCII word's lower case as it goes; a word with other characters is cut out
 * and lower-cased as a string (toLowerCase is not per character there).
 */
function textTokens(text: string, prefix: string, add: FeatureSink, pairs = prefix === ''): void {
  const base = tokenHash(prefix);
  const n = text.length;
  let previous: number | undefined;
  let i = 0;
  while (i < n) {
    // Code points, as the u flag reads them: a surrogate pair is one, a lone surrogate is itself.
    const cp = text.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    if ((classOf(cp) & WORD_START) === 0) {
      i += width;
      continue;
    }
    const start = i;
    let end = i + width;
    let ascii = cp < 0x80;
    for (let j = end; j < n; ) {
      const next = text.codePointAt(j)!;
      const kind = classOf(next);
      if ((kind & WORD_INNER) === 0) break;
      j += next > 0xffff ? 2 : 1;
      if (kind & WORD_END) {
        end = j;
        if (next >= 0x80) ascii = false;
      }
    }
    i = end;
    const length = end - start;
    if (length > 40) {
      add(`${prefix}long:${Math.min(length, 200) >> 3}`);
      previous = undefined;
      continue;
    }
    let hash: number;
    let capitals: boolean;
    let pair = pairs && previous !== undefined ? fnvStep(previous, 0x20) : -1;
    if (ascii) {
      // FNV-1a of the lower case, and of the pair, in one pass; capitals: an A–Z and no a–z.
      let h = base;
      let upper = false;
      let lower = false;
      for (let k = start; k < end; k++) {
        let c = text.charCodeAt(k);
        if (c >= 65 && c <= 90) {
          upper = true;
          c |= 0x20;
        } else if (c >= 97 && c <= 122) lower = true;
        h = Math.imul(h ^ c, 16777619);
        if (pair !== -1) pair = Math.imul(pair ^ c, 16777619);
      }
      hash = h >>> 0;
      if (pair !== -1) pair >>>= 0;
      capitals = length > 2 && upper && !lower;
    } else {
      const raw = text.slice(start, end);
      const word = raw.toLowerCase();
      hash = fnvMore(base, word);
      if (pair !== -1) pair = fnvMore(pair, word);
      // (raw differs from its lower case only when it has a capital.)
      capitals = raw.length > 2 && raw !== word && raw === raw.toUpperCase();
    }
    add.hash(hash);
    if (capitals) add.hash(fnvMore(fnvMore(base, 'upper:'), text.slice(start, end).toLowerCase()));
    if (pair !== -1) add.hash(pair);
    previous = hash;
  }
}

/** One FNV-1a step: the state after one more UTF-16 code unit. */
const fnvStep = (state: number, unit: number) => Math.imul(state ^ unit, 16777619) >>> 0;

// The character classes of a word: may start a word (and so also go on and end it), may
// end one (also ! and %), may be inside one (also ' . -).
const WORD_START = 1;
const WORD_END = 2;
const WORD_INNER = 4;
const KNOWN = 8;
const STARTS = /^[\p{L}\p{N}$€£¥]$/u;
/** Classes of the BMP's code points, filled in as they are met (KNOWN marks a filled one). */
const classes = new Uint8Array(0x10000);

function classify(cp: number): number {
  const character = String.fromCodePoint(cp);
  if (STARTS.test(character)) return WORD_START | WORD_END | WORD_INNER;
  if (character === '!' || character === '%') return WORD_END | WORD_INNER;
  if (character === "'" || character === '.' || character === '-') return WORD_INNER;
  return 0;
}

function classOf(cp: number): number {
  if (cp >= 0x10000) return classify(cp);
  let kind = classes[cp]!;
  if (kind === 0) classes[cp] = kind = classify(cp) | KNOWN;
  return kind;
}

/** HTML as a reader sees it: the text without tags, scripts and styles, entities decoded; link hosts as features. */
function htmlText(html: string, add: FeatureSink): string {
  for (const url of html.matchAll(URL)) urlTokens(url[1]!, add);
  if (/<img\b/iu.test(html)) add('html:img');
  if (/<form\b/iu.test(html)) add('html:form');
  if (/<script\b/iu.test(html)) add('html:script');
  const text = html
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/giu, ' ')
    .replace(/<!--[\s\S]*?-->/gu, ' ')
    .replace(/<[^>]*>/gu, ' ');
  return text.replace(ENTITY, (_entity, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? Number.parseInt(body.slice(2), 16) : Number(body.slice(1));
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' ';
    }
    // An entity not in the table is markup, not words.
    return NAMED_ENTITIES[body] ?? NAMED_ENTITIES[body.toLowerCase()] ?? ' ';
  });
}

/** A link's host and every parent domain (`url:a.b.example.com`, `url:b.example.com`, `url:example.com`). */
function urlTokens(host: string, add: FeatureSink): void {
  const labels = host.toLowerCase().replace(/\.+$/u, '').split('.');
  if (/^\d+$/u.test(labels.at(-1) ?? '')) {
    add('url:(ip address)');
    return;
  }
  for (let i = 0; i < labels.length - 1; i++) add(named('url', labels.slice(i).join('.')));
}

function charsetOf(fields: readonly { name: string; value: string }[]): string | undefined {
  const contentType = fields.find((field) => field.name.toLowerCase() === 'content-type');
  return contentType ? parameterValues(parseFieldValue(contentType.value), 'charset')[0] : undefined;
}

async function readUpTo(body: { size: number; read(offset: number, length: number): Promise<Buffer> }, maxBytes: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of readPieces(body, 0, Math.min(body.size, maxBytes))) pieces.push(piece);
  return Buffer.concat(pieces);
}
