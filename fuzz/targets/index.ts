// Every fuzz target, by name (fuzz/campaign.ts, fuzz/worker.ts, test/fuzz/).
import type { FuzzTarget } from '../lib/target.ts';
import { SMTP_SYNTAX_TARGETS } from './smtp-syntax.ts';
import { MAIL_SYNTAX_TARGETS } from './mail-syntax.ts';
import { SENDER_AUTH_TARGETS } from './sender-auth.ts';
import { SESSION_TARGETS } from './sessions.ts';
import { ATTACHMENT_TARGETS } from './attachments.ts';
import { ANTIVIRUS_TARGETS } from './antivirus.ts';
import { SPAM_TARGETS } from './spam.ts';
import { MESSAGE_FILE_TARGETS } from './message-files.ts';

/**
 * KAKITOME_FUZZ_EXTRA_TARGETS names a module whose TARGETS are added: test/fuzz plants
 * targets with known defects there, to show that the campaign finds and saves them.
 */
const extra = process.env.KAKITOME_FUZZ_EXTRA_TARGETS
  ? ((await import(process.env.KAKITOME_FUZZ_EXTRA_TARGETS)) as { TARGETS: readonly FuzzTarget[] }).TARGETS
  : [];

export const TARGETS: readonly FuzzTarget[] = [...SMTP_SYNTAX_TARGETS, ...MAIL_SYNTAX_TARGETS, ...SENDER_AUTH_TARGETS, ...ATTACHMENT_TARGETS, ...ANTIVIRUS_TARGETS, ...SPAM_TARGETS, ...MESSAGE_FILE_TARGETS, ...SESSION_TARGETS, ...extra];

export function findTarget(name: string): FuzzTarget {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`no fuzz target "${name}"`);
  return target;
}
