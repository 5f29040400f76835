// The header fields only this host writes, and how the steps remove incoming copies of
// them: Authentication-Results naming our authserv-id (RFC 8601 §5) and every field
// named X-Kakitome-… (the quarantine, antivirus and attachment marks). Whoever sent them in — a server on port 25 (step `sender-auth`), a user's
// program on 587/465 (step `submission-header`) — is not this host.
import { ownAuthResultsFields } from '../../policy/auth-results.ts';
import { parseHeaderSection } from '../../mail/header.ts';
import type { ContentEdit } from '../content.ts';

/** The prefix of every field name only kakitome writes. */
export const OWN_FIELD_PREFIX = 'X-Kakitome-';

/** Marks mail that failed DMARC under p=quarantine, for filing as spam. */
export const QUARANTINE_FIELD = `${OWN_FIELD_PREFIX}Quarantine`;

/** Marks mail whose content the antivirus step changed or could not scan. */
export const VIRUS_FIELD = `${OWN_FIELD_PREFIX}Virus`;

/** Edits removing every field of `header` that claims to be ours. */
export function forgedOwnFields(header: Buffer, hostname: string): ContentEdit[] {
  const prefix = OWN_FIELD_PREFIX.toLowerCase();
  const marks = parseHeaderSection(header).fields.filter((field) => field.name.toLowerCase().startsWith(prefix));
  return [...ownAuthResultsFields(header, hostname), ...marks].map(({ start, end }) => ({ start, end }));
}
