// Intake step `submission-header` (587/465): the header From must hold only the
// user's own addresses (SPEC), a message without Date or Message-ID gets them
// (RFC 6409 §8.2, §8.3), at the top of the client's header, below our Received
// (RFC 5322 §3.6.7), since `received` runs after this step; and the fields only this
// host writes (our quarantine mark, Authentication-Results naming us) are removed, as
// on port 25: a user's program does not speak for this host.
import { randomHex } from '../../mail/random-id.ts';
import { addressesOf, fieldsNamed, parseHeaderSection } from '../../mail/header.ts';
import { rfc5322Date } from '../../mail/date.ts';
import { isOwned } from '../../mail/owned.ts';
import type { Reply } from '../../mail/reply.ts';
import type { Step, StepVerdict } from '../step.ts';
import { forgedOwnFields } from './own-fields.ts';

export const SUBMISSION_HEADER_REPLY = {
  // RFC 5322 §3.6: From is required.
  headerFromMissing: { code: 550, enhanced: '5.6.0', text: 'the message has no From header field (RFC 5322 section 3.6)' } satisfies Reply,
  // RFC 3463 X.7.1: delivery not authorized.
  headerFromNotOwned: { code: 550, enhanced: '5.7.1', text: 'header From not owned by the authenticated user' } satisfies Reply,
} as const;

export function submissionHeaderStep(): Step {
  return {
    name: 'submission-header',
    timeoutMs: 1_000,
    run: async (draft, context) =>
      checkSubmittedHeader(await draft.content.header(), context.client?.user?.owned ?? new Set(), context.hostname, context.now),
  };
}

export function checkSubmittedHeader(header: Buffer, owned: ReadonlySet<string>, hostname: string, now = new Date()): StepVerdict {
  const section = parseHeaderSection(header);
  const from = fieldsNamed(section, 'From');
  if (from.length === 0) return { action: 'reject', reply: SUBMISSION_HEADER_REPLY.headerFromMissing };
  const addresses = from.flatMap((field) => addressesOf(field.value));
  if (addresses.length === 0 || !addresses.every((address) => isOwned(owned, address))) {
    return { action: 'reject', reply: SUBMISSION_HEADER_REPLY.headerFromNotOwned };
  }
  const additions: string[] = [];
  if (fieldsNamed(section, 'Date').length === 0) additions.push(`Date: ${rfc5322Date(now)}\r\n`);
  if (fieldsNamed(section, 'Message-ID').length === 0) {
    additions.push(`Message-ID: <${randomHex(12)}.${now.getTime()}@${hostname}>\r\n`);
  }
  const removals = forgedOwnFields(header, hostname);
  if (additions.length === 0 && removals.length === 0) return { action: 'accept' };
  return {
    action: 'modify',
    prepend: additions.join(''),
    edits: removals,
    notes: { added: additions.map((field) => field.slice(0, field.indexOf(':'))), removed: removals.length },
  };
}
