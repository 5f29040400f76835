// What an intake step is and what it returns (DESIGN: async functions returning a
// verdict union, with a timeout; never callbacks that can hang or fire twice).
import type { Logger } from 'pino';
import type { Reply } from '../mail/reply.ts';
import type { ContentEdit, MessageContent } from './content.ts';
import type { MessageFlag } from '../store/mailboxes.ts';
import type { QuarantineReason } from '../store/quarantine.ts';

/** Where a message entered: each origin has its own ordered list of steps (origins.ts). */
export type IntakeOrigin = 'mta' | 'msa' | 'notice' | 'release-mta' | 'release-msa';

/** A local user who gets a copy, with where and how it is filed. */
export interface MailboxRecipient {
  kind: 'mailbox';
  userId: number;
  folder: string;
  flags: MessageFlag[];
  keywords: string[];
  /** Header fields (CRLF-terminated) only this recipient's copy gets, below this host's trace fields, e.g. its spam score. */
  fields?: string;
  /** Put before this recipient's Subject, e.g. "[SPAM]". */
  subjectTag?: string;
}

/** A recipient in another domain, for the outbound queue. */
export interface RemoteRecipient {
  kind: 'remote';
  address: string;
  /** Header fields only this recipient's copy gets, below this host's trace fields. */
  fields?: string;
}

export type PlannedRecipient = MailboxRecipient | RemoteRecipient;

/** What the listener knows about the client, for trace fields and checks. */
export interface ClientInfo {
  address: string;
  helo: string;
  esmtp: boolean;
  tls: { protocol: string; cipher: string } | null;
  /** Logged in with SMTP AUTH in this session (RFC 3848: ESMTPA). */
  smtpAuth: boolean;
  /** The user who sends (SMTP AUTH or POP-before-SMTP), if any. */
  user: { id: number; address: string; owned: ReadonlySet<string> } | null;
}

export interface IntakeContext {
  origin: IntakeOrigin;
  queueId: string;
  /** '' for the null reverse-path. */
  mailFrom: string;
  /** The envelope recipients as the client gave them (for `for <address>` in Received). */
  envelopeRecipients: readonly string[];
  /** Absent for mail made here (notices). */
  client: ClientInfo | null;
  hostname: string;
  now: Date;
  logger: Logger;
}

/** The message as the steps see it. Steps never change it: they return a verdict. */
export interface Draft {
  /** The content as it arrived, before any step changed it. */
  readonly original: MessageContent;
  /** The content after the steps so far. */
  readonly content: MessageContent;
  readonly recipients: readonly PlannedRecipient[];
  /** Facts earlier steps recorded for the log and for later steps (e.g. auth results). */
  readonly notes: Readonly<Record<string, unknown>>;
  /**
   * Octets of header fields the steps put on top (this host's trace fields: Received,
   * Authentication-Results): per-recipient fields go just below them. Steps edit only
   * below them (the message as it arrived).
   */
  readonly topOctets: number;
}

/** A change to one recipient's copy: a local user's (by id) or a remote address's. */
export type RecipientChange =
  | { userId: number; folder?: string; addFlags?: MessageFlag[]; addKeywords?: string[]; fields?: string; subjectTag?: string }
  | { address: string; fields?: string };

export type StepVerdict =
  | { action: 'accept'; notes?: Record<string, unknown> }
  | {
      action: 'modify';
      /** Header fields (CRLF-terminated) added on top of the message. */
      prepend?: string;
      /** Octet ranges of the current content to remove or replace (a field, a MIME part). */
      edits?: ContentEdit[];
      recipients?: RecipientChange[];
      /**
       * Keep the content this step saw in the quarantine (what it removes or replaces):
       * the first step that asks keeps it, later ones add their reason.
       */
      quarantine?: { reason: QuarantineReason; detail: string };
      notes?: Record<string, unknown>;
    }
  | {
      /**
       * Deliver to no one: the message, as the step saw it with `edits` applied and
       * `fields` below this host's trace fields, is held whole in the quarantine (or, when
       * an earlier step already kept an original there, that entry is kept with this
       * reason too). Later steps do not run.
       */
      action: 'hold';
      reason: QuarantineReason;
      detail: string;
      fields?: string;
      edits?: ContentEdit[];
      notes?: Record<string, unknown>;
    }
  | { action: 'reject' | 'tempfail'; reply: Reply; notes?: Record<string, unknown> };

export interface Step {
  name: string;
  /** A step still running after this is abandoned and the message tempfailed. */
  timeoutMs: number;
  run(draft: Draft, context: IntakeContext): Promise<StepVerdict>;
}

export const accept = (): StepVerdict => ({ action: 'accept' });

export const refuse = (reply: Reply, notes?: Record<string, unknown>): StepVerdict => ({
  action: reply.code >= 500 ? 'reject' : 'tempfail',
  reply,
  ...(notes ? { notes } : {}),
});
