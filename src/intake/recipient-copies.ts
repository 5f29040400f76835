// The copies a delivery writes: recipients whose copy differs — their own header fields
// below this host's trace fields (a spam score computed with a user's own model), or a
// tag before the Subject
// (junk for a POP3 reader) — get their own variant of the content; everyone else shares one.
import { parseHeaderSection } from '../mail/header.ts';
import type { MessageContent } from './content.ts';
import type { PlannedRecipient } from './step.ts';
import { belowTop } from './pipeline.ts';

export interface Copy {
  content: MessageContent;
  recipients: PlannedRecipient[];
}

export async function recipientCopies(content: MessageContent, topOctets: number, recipients: readonly PlannedRecipient[]): Promise<Copy[]> {
  const groups = new Map<string, { fields: string; tag: string; members: PlannedRecipient[] }>();
  for (const recipient of recipients) {
    const fields = recipient.fields ?? '';
    const tag = recipient.kind === 'mailbox' ? (recipient.subjectTag ?? '') : '';
    const key = `${fields}\0${tag}`;
    const group = groups.get(key);
    if (group) group.members.push(recipient);
    else groups.set(key, { fields, tag, members: [recipient] });
  }
  const copies: Copy[] = [];
  for (const { fields, tag, members } of groups.values()) {
    let copy = fields === '' ? content : belowTop(content, topOctets, fields);
    if (tag !== '') copy = await taggedSubject(copy, tag);
    copies.push({ content: copy, recipients: members });
  }
  return copies;
}

/** The content with `tag` and a space before its Subject's text (once: a Subject that already starts with it is left alone); a message without Subject gets one. */
export async function taggedSubject(content: MessageContent, tag: string): Promise<MessageContent> {
  const header = await content.header();
  const subject = parseHeaderSection(header).fields.find((field) => field.name.toLowerCase() === 'subject');
  if (!subject) return content.prepend(`Subject: ${tag}\r\n`);
  if (subject.value.startsWith(tag)) return content;
  // RFC 5322 §3.6.5: the field body starts after "Subject:"; the tag goes before its first non-blank octet.
  const text = header.subarray(subject.start, subject.end).toString('latin1');
  const colon = text.indexOf(':');
  let at = colon + 1;
  while (text[at] === ' ' || text[at] === '\t') at++;
  return content.edit([{ start: subject.start + at, end: subject.start + at, insert: Buffer.from(`${tag} `) }]);
}
