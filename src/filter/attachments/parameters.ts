// MIME header field values with parameters: Content-Type (RFC 2045 §5.1) and
// Content-Disposition (RFC 2183 §2), with RFC 2231's extensions (§3 continuations,
// §4 charset and language, percent-encoded octets). Values arrive as octet strings
// (one char per octet, latin1), so unencoded 8-bit names keep their octets.
//
// Parsing is lenient the way mail clients are, and where clients disagree every
// reading is kept: an unquoted value with spaces (`filename=scan.pdf .exe`) yields
// both the token (`scan.pdf`) and the text up to the `;` (`scan.pdf .exe`).

export interface Parameter {
  /** Lower case, without the RFC 2231 section and `*` (`filename` of `FILENAME*0*`). */
  name: string;
  /** RFC 2231 §3 section number, or undefined for an unsectioned parameter. */
  section: number | undefined;
  /** RFC 2231 §4: the value is charset'language'percent-encoded (the name ended in `*`). */
  extended: boolean;
  /** Every reading of the value: the strict one first, then a lenient one if it differs. */
  values: string[];
}

export interface FieldValue {
  /** The value before the parameters, lower case and trimmed (`multipart/mixed`, `attachment`). */
  value: string;
  parameters: Parameter[];
}

const PARAMETER_NAME = /^([^*\s]+)(?:\*(\d{1,4}))?(\*)?$/u;

/**
 * The text without its comments (RFC 5322 §3.2.2: parenthesised, nested, `\` quoting the
 * next character; none inside a quoted string). RFC 2045 §5.1 allows them in
 * Content-Type and Content-Transfer-Encoding, and clients drop them: `(x) multipart/mixed`
 * is multipart to a client, so it must be to the walk, or its parts would go uninspected.
 */
export function withoutComments(text: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (depth === 0 && quoted) {
      out += c;
      if (c === '\\' && i + 1 < text.length) out += text[++i];
      else if (c === '"') quoted = false;
    } else if (c === '\\' && depth > 0) i++;
    else if (c === '(') depth++;
    else if (c === ')' && depth > 0) {
      depth--;
      if (depth === 0) out += ' ';
    } else if (depth === 0) {
      if (c === '"') quoted = true;
      out += c;
    }
  }
  return out;
}

/** Splits on `;` outside quoted strings (RFC 5322 §3.2.4: `\` quotes the next char). */
function splitParameters(text: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ';' && !quoted) {
      pieces.push(text.slice(start, i));
      start = i + 1;
    }
  }
  pieces.push(text.slice(start));
  return pieces;
}

/** The readings of a parameter value as written after `=`. */
function valueReadings(raw: string): string[] {
  const text = raw.trim();
  if (text.startsWith('"')) {
    let out = '';
    let i = 1;
    for (; i < text.length && text[i] !== '"'; i++) {
      if (text[i] === '\\' && i + 1 < text.length) i++;
      out += text[i];
    }
    return [out];
  }
  // RFC 2045 §5.1 token: up to white space or a tspecial; clients often take it all.
  const token = /^[^\s()<>@,;:\\"/[\]?=]*/u.exec(text)![0];
  return token === text ? [text] : [token, text];
}

export function parseFieldValue(text: string): FieldValue {
  const [head = '', ...rest] = splitParameters(text);
  const parameters: Parameter[] = [];
  for (const piece of rest) {
    const equals = piece.indexOf('=');
    if (equals < 0) continue;
    const match = PARAMETER_NAME.exec(piece.slice(0, equals).trim().toLowerCase());
    if (!match) continue;
    parameters.push({
      name: match[1]!,
      section: match[2] === undefined ? undefined : Number(match[2]),
      extended: match[3] !== undefined,
      values: valueReadings(piece.slice(equals + 1)),
    });
  }
  return { value: withoutComments(head).trim().toLowerCase(), parameters };
}

/** Octets (a latin1 string) as text in a charset; an unknown charset keeps the octets as latin1. */
export function decodeCharset(octets: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset.trim() || 'us-ascii').decode(octets);
  } catch {
    return octets.toString('latin1');
  }
}

/** Unlabelled 8-bit octets: UTF-8 when they are valid UTF-8 (RFC 6532), latin1 otherwise. */
export function decodeUnlabelled(octets: string): string {
  if (!/[^\u0000-\u007f]/u.test(octets)) return octets;
  const bytes = Buffer.from(octets, 'latin1');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return octets;
  }
}

/** RFC 2231 §4: `%XX` as octets, other characters as themselves. */
function percentDecode(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%' && /^[0-9a-f]{2}$/iu.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** `charset'language'rest` (RFC 2231 §4), or no charset when the quotes are missing. */
function splitCharset(value: string): { charset: string | undefined; rest: string } {
  const first = value.indexOf("'");
  const second = first < 0 ? -1 : value.indexOf("'", first + 1);
  if (second < 0) return { charset: undefined, rest: value };
  return { charset: value.slice(0, first), rest: value.slice(second + 1) };
}

/**
 * Every value of a named parameter: plain ones, RFC 2231 §4 extended ones, and the
 * §3 continuations joined in section order (encoded sections percent-decoded, the
 * charset of section 0 applied to the whole). Duplicates are all kept: clients differ
 * in which they take.
 */
export function parameterValues(field: FieldValue, name: string): string[] {
  const out: string[] = [];
  const sections: Parameter[] = [];
  for (const parameter of field.parameters) {
    if (parameter.name !== name) continue;
    if (parameter.section !== undefined) {
      sections.push(parameter);
    } else if (parameter.extended) {
      for (const value of parameter.values) {
        const { charset, rest } = splitCharset(value);
        out.push(charset === undefined ? decodeUnlabelled(percentDecode(rest).toString('latin1')) : decodeCharset(percentDecode(rest), charset));
      }
    } else {
      out.push(...parameter.values.map(decodeUnlabelled));
    }
  }
  if (sections.length > 0) {
    // A section given twice: the first one counts; a gap ends nothing (worse reading wins).
    const bySection = new Map<number, Parameter>();
    for (const parameter of sections) if (!bySection.has(parameter.section!)) bySection.set(parameter.section!, parameter);
    const unique = [...bySection.values()].sort((a, b) => a.section! - b.section!);
    let charset: string | undefined;
    const octets: Buffer[] = [];
    for (const [i, parameter] of unique.entries()) {
      let value = parameter.values[0] ?? '';
      if (parameter.extended) {
        if (i === 0 && parameter.section === 0) ({ charset, rest: value } = splitCharset(value));
        octets.push(percentDecode(value));
      } else {
        octets.push(Buffer.from(value, 'latin1'));
      }
    }
    const joined = Buffer.concat(octets);
    out.push(charset === undefined ? decodeUnlabelled(joined.toString('latin1')) : decodeCharset(joined, charset));
  }
  return out;
}
