// The header section of a stored message (RFC 5322 §2.2): fields with their unfolded
// values and byte offsets, enough for the MSA's checks and additions.
import addressparser from 'nodemailer/lib/addressparser';

export interface HeaderField {
  /** As written, e.g. "From". */
  name: string;
  /** Unfolded value without the leading space. */
  value: string;
  /** Byte offset of the field's first octet, and of the octet after its final CRLF. */
  start: number;
  end: number;
}

export interface HeaderSection {
  fields: HeaderField[];
  /** Byte offset just after the header section (after the empty line, if any). */
  end: number;
}

export function parseHeaderSection(message: Buffer): HeaderSection {
  const fields: HeaderField[] = [];
  let offset = 0;
  while (offset < message.length) {
    const lineEnd = message.indexOf('\r\n', offset);
    if (lineEnd === offset) return { fields, end: offset + 2 }; // the empty line
    let end = lineEnd < 0 ? message.length : lineEnd + 2;
    // Continuation lines start with white space (RFC 5322 §2.2.3).
    while (end < message.length && (message[end] === 0x20 || message[end] === 0x09)) {
      const next = message.indexOf('\r\n', end);
      end = next < 0 ? message.length : next + 2;
    }
    const text = message.subarray(offset, end).toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) {
      fields.push({
        name: text.slice(0, colon).trimEnd(),
        value: text.slice(colon + 1).replace(/\r\n(?=[ \t])/g, '').trim(),
        start: offset,
        end,
      });
    }
    offset = end;
  }
  return { fields, end: message.length };
}

export function fieldsNamed(section: HeaderSection, name: string): HeaderField[] {
  const lower = name.toLowerCase();
  return section.fields.filter((field) => field.name.toLowerCase() === lower);
}

/** The mailbox addresses of an address-list field value (groups flattened). */
export function addressesOf(value: string): string[] {
  return addressparser(value, { flatten: true })
    .map((mailbox) => mailbox.address)
    .filter((address) => address !== '');
}
