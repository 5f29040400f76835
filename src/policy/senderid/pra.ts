// The Purported Responsible Address of a message (RFC 4407 §2): the mailbox Sender ID
// checks. Its six steps, in the order of the header section ("first" is the topmost
// field):
//   1. the first non-empty Resent-Sender, unless a non-empty Resent-From precedes it and
//      a Received or Return-Path lies between the two (then the Resent-Sender belongs to
//      an older resent block, RFC 5322 §3.6.6): go on with step 2;
//   2. else the first non-empty Resent-From;
//   3. else the non-empty Sender fields: exactly one is selected, more than one is step 6;
//   4. else the non-empty From fields: exactly one is selected, otherwise step 6;
//   5. the selected field must hold a single mailbox with a domain: a field that "appears
//      to contain multiple mailboxes", a hopelessly malformed mailbox or one without a
//      domain name is step 6;
//   6. no PRA (Sender ID reports this as permerror).
import addressparser from 'nodemailer/lib/addressparser';
import { parseHeaderSection, type HeaderField, type HeaderSection } from '../../mail/header.ts';
import { normaliseDomain } from '../../mail/address.ts';

/** The header field the PRA was taken from, lower case (RFC 8601: header.<name>). */
export type PraField = 'resent-sender' | 'resent-from' | 'sender' | 'from';

export type PraResult =
  | { found: true; address: string; domain: string; field: PraField }
  | { found: false; reason: string };

/** RFC 4407 §2 on a message (its header section is read) or an already parsed header. */
export function findPra(message: Buffer | HeaderSection): PraResult {
  const fields = (Buffer.isBuffer(message) ? parseHeaderSection(message) : message).fields;
  const named = (name: string) => fields.filter((f) => f.name.toLowerCase() === name && f.value.trim() !== '');
  const index = (field: HeaderField) => fields.indexOf(field);

  // Step 1.
  const resentSender = named('resent-sender')[0];
  const resentFrom = named('resent-from')[0];
  if (resentSender) {
    const olderBlock =
      resentFrom !== undefined &&
      index(resentFrom) < index(resentSender) &&
      fields.some((f, i) => i > index(resentFrom) && i < index(resentSender) && ['received', 'return-path'].includes(f.name.toLowerCase()));
    if (!olderBlock) return mailboxOf(resentSender, 'resent-sender');
  }
  // Step 2.
  if (resentFrom) return mailboxOf(resentFrom, 'resent-from');
  // Step 3.
  const senders = named('sender');
  if (senders.length > 1) return { found: false, reason: 'more than one Sender field' };
  if (senders.length === 1) return mailboxOf(senders[0]!, 'sender');
  // Step 4.
  const froms = named('from');
  if (froms.length === 0) return { found: false, reason: 'no From field' };
  if (froms.length > 1) return { found: false, reason: 'more than one From field' };
  return mailboxOf(froms[0]!, 'from');
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** Step 5: the single mailbox of the selected field, or step 6. */
function mailboxOf(field: HeaderField, name: PraField): PraResult {
  const fieldName = field.name;
  const entries = addressparser(field.value);
  if (entries.length !== 1 || 'group' in entries[0]!) {
    return { found: false, reason: `the ${fieldName} field does not hold exactly one mailbox` };
  }
  const address = entries[0]!.address.trim();
  const at = address.lastIndexOf('@');
  if (at <= 0 || CONTROL.test(address) || /\s/.test(address)) {
    return { found: false, reason: `the ${fieldName} mailbox is malformed` };
  }
  let domain: string;
  try {
    domain = normaliseDomain(address.slice(at + 1));
  } catch {
    return { found: false, reason: `the ${fieldName} mailbox has no domain name` };
  }
  return { found: true, address: `${address.slice(0, at)}@${domain}`, domain, field: name };
}
