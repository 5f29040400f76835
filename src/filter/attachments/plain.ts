// Whether a message can hold an attachment at all, from its header alone: the check that
// lets plain mail — most of port 25 — skip the MIME walk in the antivirus and attachment
// steps. Read with the walk's own parsing (parameters.ts: comments, case, RFC 2231
// names), so that what it calls plain is what the walk would find plain.
import { fileNameCandidates, type RawField } from './names.ts';
import { parseFieldValue, withoutComments } from './parameters.ts';

/**
 * True for one text part (or no Content-Type), 7bit or 8bit (or no encoding named), with
 * no file name in its header: no part to decode, no name to judge, no archive. Any other
 * type or encoding in any such field, or any name, and the message is walked.
 */
export function cannotHoldAttachment(fields: readonly RawField[]): boolean {
  const named = (name: string) => fields.filter((field) => field.name.toLowerCase() === name);
  if (named('content-type').some((field) => !parseFieldValue(field.value).value.startsWith('text/'))) return false;
  if (named('content-transfer-encoding').some((field) => !['7bit', '8bit'].includes(withoutComments(field.value).trim().toLowerCase()))) return false;
  return fileNameCandidates(fields).length === 0;
}
