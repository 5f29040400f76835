// The one way in: every message that enters a mailbox or the outbound queue — port 25,
// submission, delivery and admin notices, later IMAP APPEND and the edge forwarder —
// is taken in here. The origin's steps run in order over a draft (pipeline.ts); what
// they accept becomes a delivery plan per recipient, which the MDA alone makes durable.
// Only then is the message accepted (for SMTP: the 250).
//
// SECURITY: listeners hand over bytes and an envelope they checked; they never write
// the store. A step that fails or hangs tempfails the message: nothing unchecked is
// accepted, nothing accepted is lost.
import type { Logger } from 'pino';
import type { Reply } from '../mail/reply.ts';
import type { DeliveryResult, MailDeliveryAgent } from '../mda/deliver.ts';
import type { QueueOrigin } from '../store/queue.ts';
import { MessageContent } from './content.ts';
import { DraftMemoryBudget, DraftWriter, type ScratchFiles } from './draft-writer.ts';
import { runPipeline } from './pipeline.ts';
import { recipientCopies } from './recipient-copies.ts';
import type { ClientInfo, IntakeOrigin, PlannedRecipient, Step } from './step.ts';

export type { ClientInfo };
import { INBOX, RELEASED_UNSCANNED } from '../store/mailboxes.ts';

export interface IntakeOptions {
  /** The ordered steps of each origin (origins.ts). */
  steps: Readonly<Record<IntakeOrigin, readonly Step[]>>;
  mda: Pick<MailDeliveryAgent, 'deliver'>;
  scratch: ScratchFiles;
  hostname: string;
  logger: Logger;
  /** What this intake's drafts may hold in memory together (default: DEFAULT_DRAFT_MEMORY_BYTES). */
  draftMemory?: DraftMemoryBudget;
}

export interface IntakeMessage {
  origin: IntakeOrigin;
  queueId: string;
  /** '' for the null reverse-path. */
  mailFrom: string;
  /** The envelope recipients as given (RCPT TO), for trace fields. */
  envelopeRecipients: readonly string[];
  /** Where it goes: local users (aliases expanded) and remote addresses. */
  recipients: { userIds: readonly number[]; remote: readonly string[] };
  client: ClientInfo | null;
  content: MessageContent | Buffer;
  /** Remote recipients not before this (unix ms): the hold window of submitted mail. */
  notBefore?: number;
  /** The quarantine entry this message is released from: taken out with the delivery. */
  release?: string;
}

export type IntakeOutcome =
  /** `held`: kept whole in the quarantine, delivered to no one (still accepted: the 250 is said). */
  | { action: 'accept'; result: DeliveryResult; notes: Readonly<Record<string, unknown>>; held: boolean }
  | { action: 'reject' | 'tempfail'; reply: Reply; step: string; notes: Readonly<Record<string, unknown>> };

const QUEUE_ORIGIN: Record<IntakeOrigin, QueueOrigin> = {
  mta: 'mta',
  msa: 'msa',
  // A notice is never the subject of a notice (its sender is the null path anyway).
  notice: 'mta',
  'release-mta': 'mta',
  'release-msa': 'msa',
};

/** The origin a quarantined message of this queue origin is released through. */
export const RELEASE_ORIGIN: Record<QueueOrigin, IntakeOrigin> = { mta: 'release-mta', msa: 'release-msa' };

export class Intake {
  readonly #options: IntakeOptions;
  readonly #draftMemory: DraftMemoryBudget;

  constructor(options: IntakeOptions) {
    this.#options = options;
    this.#draftMemory = options.draftMemory ?? new DraftMemoryBudget();
  }

  /** Collects a message's content as it arrives; discard() it when done, whatever the outcome. */
  newDraft(): DraftWriter {
    return new DraftWriter(this.#options.scratch, this.#draftMemory);
  }

  /** Runs the origin's steps and, if they accept, delivers durably. Throws only when delivery itself fails. */
  async take(message: IntakeMessage): Promise<IntakeOutcome> {
    const content = message.content instanceof MessageContent ? message.content : MessageContent.fromBuffer(message.content);
    const recipients: PlannedRecipient[] = [
      ...[...new Set(message.recipients.userIds)].map(
        (userId): PlannedRecipient => ({ kind: 'mailbox', userId, folder: INBOX, flags: [], keywords: [] }),
      ),
      ...[...new Set(message.recipients.remote)].map((address): PlannedRecipient => ({ kind: 'remote', address })),
    ];
    const context = {
      origin: message.origin,
      queueId: message.queueId,
      mailFrom: message.mailFrom,
      envelopeRecipients: message.envelopeRecipients,
      client: message.client,
      hostname: this.#options.hostname,
      now: new Date(),
      logger: this.#options.logger,
    };
    const outcome = await runPipeline(this.#options.steps[message.origin], { content, recipients }, context);
    if ('reply' in outcome) return outcome;
    const { draft, quarantine } = outcome;
    const held = outcome.action === 'hold';
    const queueOrigin = QUEUE_ORIGIN[message.origin];
    const scannedWith = message.release === undefined ? draft.notes.scannedWith : RELEASED_UNSCANNED;
    const result = await this.#options.mda.deliver({
      queueId: message.queueId,
      mailFrom: message.mailFrom,
      queueOrigin,
      notBefore: message.notBefore,
      variants: held ? [] : await recipientCopies(draft.content, draft.topOctets, draft.recipients),
      ...(typeof scannedWith === 'string' ? { scannedWith } : {}),
      ...(message.release === undefined ? {} : { release: message.release }),
      ...(quarantine
        ? {
            quarantine: {
              content: quarantine.content,
              record: {
                quarantineId: message.queueId,
                reason: quarantine.reason,
                detail: quarantine.detail,
                // Held whole: nobody got a copy; else the recipients got a changed one.
                delivered: !held,
                origin: queueOrigin,
                mailFrom: message.mailFrom,
                recipients: { users: [...new Set(message.recipients.userIds)], remote: [...new Set(message.recipients.remote)] },
              },
            },
          }
        : {}),
    });
    return { action: 'accept', result, notes: draft.notes, held };
  }
}
