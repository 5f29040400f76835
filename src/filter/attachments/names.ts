// The file names a MIME part goes by: Content-Disposition `filename` (RFC 2183 §2.3)
// and Content-Type `name` (RFC 2045 §5.1, RFC 1341's older home for it), each plain,
// RFC 2231 extended or continued, and RFC 2047-encoded. Clients pick different ones
// when they disagree, so every distinct name is returned and the policy judges the worst.
import { decodeEncodedWords } from './encoded-words.ts';
import { parameterValues, parseFieldValue } from './parameters.ts';

export interface RawField {
  /** The field name as written. */
  name: string;
  /** The unfolded value, one char per octet (latin1). */
  value: string;
}

/** Where names are found: (field, parameter). Content-Disposition `name` is a common mistake clients honour. */
const NAME_SOURCES: readonly (readonly [string, string])[] = [
  ['content-disposition', 'filename'],
  ['content-type', 'name'],
  ['content-disposition', 'name'],
];

/** Every distinct non-empty name of a part's header fields, in the order of NAME_SOURCES. */
export function fileNameCandidates(fields: readonly RawField[]): string[] {
  const names = new Set<string>();
  for (const [fieldName, parameter] of NAME_SOURCES) {
    for (const field of fields) {
      if (field.name.toLowerCase() !== fieldName) continue;
      for (const value of parameterValues(parseFieldValue(field.value), parameter)) {
        for (const name of [value, decodeEncodedWords(value)]) {
          const trimmed = name.trim();
          if (trimmed !== '') names.add(trimmed);
        }
      }
    }
  }
  return [...names];
}

/** A file name as it may appear in a reply, a header field and a notice: printable ASCII, bounded. */
export function shownName(name: string): string {
  const ascii = name.normalize('NFKC').replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '?').trim();
  return (ascii.length > 100 ? `${ascii.slice(0, 100)}...` : ascii) || '(no name)';
}
