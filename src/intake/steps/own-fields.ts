// The header fields only this host writes, and how the steps remove incoming copies of
// them: Authentication-Results naming our authserv-id (RFC 8601 §5) and our quarantine
// mark. Whoever sent them in — a server on port 25 (step `sender-auth`), a user's
// program on 587/465 (step `submission-header`) — is not this host.
import { ownAuthResultsFields } from '../../policy/auth-results.ts';
import { fieldsNamed, parseHeaderSection } from '../../mail/header.ts';
import type { ContentEdit } from '../content.ts';

/** Marks mail that failed DMARC under p=quarantine, for filing as spam. */
export const QUARANTINE_FIELD = 'X-Kakitome-Quarantine';

/** Edits removing every field of `header` that claims to be ours. */
export function forgedOwnFields(header: Buffer, hostname: string): ContentEdit[] {
  const marks = fieldsNamed(parseHeaderSection(header), QUARANTINE_FIELD);
  return [...ownAuthResultsFields(header, hostname), ...marks].map(({ start, end }) => ({ start, end }));
}
