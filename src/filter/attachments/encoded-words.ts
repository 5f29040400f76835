// RFC 2047 encoded words (`=?charset?B|Q?text?=`), which RFC 2047 §5 (3) forbids in
// quoted parameter values and which clients decode there anyway: a name that reads
// `=?UTF-8?B?ZXZpbC5leGU=?=` to a filter is `evil.exe` to the recipient.
import { decodeCharset, decodeUnlabelled } from './parameters.ts';

// RFC 2047 §2 (and RFC 2231 §5: `charset*language`).
const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bq])\?([^?\s]*)\?=/giu;

/** RFC 2047 §4.2: `_` is a space, `=XX` an octet. */
function decodeQ(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '_') bytes.push(0x20);
    else if (c === '=' && /^[0-9a-f]{2}$/iu.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}

/** A header field's value as text: its 8-bit octets (read as latin1) as UTF-8 when valid, then its encoded words decoded. */
export function fieldText(value: string): string {
  return decodeEncodedWords(decodeUnlabelled(value));
}

/**
 * The text with its encoded words decoded. Adjacent words separated only by white
 * space are joined (RFC 2047 §6.2), and their octets are joined before decoding when
 * they share a charset, so a character split across two words survives.
 */
export function decodeEncodedWords(text: string): string {
  if (!text.includes('=?')) return text;
  let out = '';
  let last = 0;
  let pending: { charset: string; octets: Buffer[] } | undefined;
  const flush = () => {
    if (pending) out += decodeCharset(Buffer.concat(pending.octets), pending.charset);
    pending = undefined;
  };
  for (const match of text.matchAll(ENCODED_WORD)) {
    const between = text.slice(last, match.index);
    if (!(pending && /^\s*$/u.test(between))) {
      flush();
      out += between;
    }
    const charset = match[1]!.toLowerCase();
    const octets = match[2]!.toLowerCase() === 'b' ? Buffer.from(match[3]!, 'base64') : decodeQ(match[3]!);
    if (pending && pending.charset !== charset) flush();
    pending ??= { charset, octets: [] };
    pending.octets.push(octets);
    last = match.index + match[0].length;
  }
  flush();
  return out + text.slice(last);
}
