// Runs an origin's steps, in order, over one message. Each step sees the draft as the
// steps before it left it and returns a verdict; the first reject or tempfail ends the
// run. A step that throws or outlives its timeout tempfails the message (451): the
// sender tries again later, and nothing unchecked is ever accepted. A step that removes
// or replaces something may ask for the content it saw to be quarantined: the run
// returns the first such content (the least changed) with every reason.
import type { Reply } from '../mail/reply.ts';
import type { MessageContent } from './content.ts';
import type { Draft, IntakeContext, PlannedRecipient, RecipientChange, Step, StepVerdict } from './step.ts';
import type { QuarantineReason } from '../store/quarantine.ts';

export const INTAKE_REPLY = {
  // RFC 3463 §3.4: 4.3.0 "other or undefined mail system status".
  stepFailed: (step: string): Reply => ({ code: 451, enhanced: '4.3.0', text: `local error in ${step}; try again later` }),
  stepTimedOut: (step: string): Reply => ({ code: 451, enhanced: '4.3.0', text: `${step} took too long; try again later` }),
} as const;

/** The content kept for the quarantine, and why (the first reason is the entry's). */
export interface Quarantined {
  content: MessageContent;
  reason: QuarantineReason;
  detail: string;
}

export type PipelineResult =
  | { action: 'accept'; draft: Draft; steps: string[]; quarantine?: Quarantined }
  /** Held whole in the quarantine: delivered to no one. */
  | { action: 'hold'; draft: Draft; steps: string[]; quarantine: Quarantined }
  | { action: 'reject' | 'tempfail'; reply: Reply; step: string; notes: Readonly<Record<string, unknown>> };

export async function runPipeline(
  steps: readonly Step[],
  start: { content: MessageContent; recipients: readonly PlannedRecipient[] },
  context: IntakeContext,
): Promise<PipelineResult> {
  let draft: Draft = { original: start.content, content: start.content, recipients: start.recipients, notes: {}, topOctets: 0 };
  const ran: string[] = [];
  let quarantine: Quarantined | undefined;
  for (const step of steps) {
    const verdict = await runStep(step, draft, context);
    ran.push(step.name);
    if (verdict.action === 'reject' || verdict.action === 'tempfail') {
      return { action: verdict.action, reply: verdict.reply, step: step.name, notes: { ...draft.notes, ...verdict.notes } };
    }
    if (verdict.action === 'hold') {
      const seen = applyModify(draft, { action: 'modify', ...(verdict.edits ? { edits: verdict.edits } : {}), ...(verdict.notes ? { notes: verdict.notes } : {}) });
      const content = verdict.fields ? belowTop(seen.content, seen.topOctets, verdict.fields) : seen.content;
      const held = quarantine
        ? { ...quarantine, detail: `${quarantine.detail}; ${verdict.reason}: ${verdict.detail}` }
        : { content, reason: verdict.reason, detail: `${verdict.reason}: ${verdict.detail}` };
      return { action: 'hold', draft: { ...seen, recipients: [] }, steps: ran, quarantine: held };
    }
    if (verdict.action === 'modify') {
      if (verdict.quarantine) {
        const { reason, detail } = verdict.quarantine;
        quarantine = quarantine ? { ...quarantine, detail: `${quarantine.detail}; ${reason}: ${detail}` } : { content: draft.content, reason, detail: `${reason}: ${detail}` };
      }
      draft = applyModify(draft, verdict);
    } else if (verdict.notes) draft = { ...draft, notes: { ...draft.notes, ...verdict.notes } };
  }
  return { action: 'accept', draft, steps: ran, ...(quarantine ? { quarantine } : {}) };
}

async function runStep(step: Step, draft: Draft, context: IntakeContext): Promise<StepVerdict> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<StepVerdict>((resolve) => {
    timer = setTimeout(() => {
      context.logger.warn({ queueId: context.queueId, step: step.name, timeoutMs: step.timeoutMs }, 'intake step timed out');
      resolve({ action: 'tempfail', reply: INTAKE_REPLY.stepTimedOut(step.name) });
    }, step.timeoutMs);
  });
  try {
    return await Promise.race([
      step.run(draft, context).catch((err: unknown): StepVerdict => {
        context.logger.error({ queueId: context.queueId, step: step.name, err }, 'intake step failed');
        return { action: 'tempfail', reply: INTAKE_REPLY.stepFailed(step.name) };
      }),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function applyModify(draft: Draft, verdict: Extract<StepVerdict, { action: 'modify' }>): Draft {
  let content = draft.content;
  // Edits are offsets in the content the step saw; the prepend goes on top afterwards.
  if (verdict.edits && verdict.edits.length > 0) content = content.edit(verdict.edits);
  if (verdict.prepend) content = content.prepend(verdict.prepend);
  return {
    original: draft.original,
    content,
    recipients: verdict.recipients ? changeRecipients(draft.recipients, verdict.recipients) : draft.recipients,
    notes: verdict.notes ? { ...draft.notes, ...verdict.notes } : draft.notes,
    topOctets: draft.topOctets + Buffer.byteLength(verdict.prepend ?? ''),
  };
}

/** `fields` inserted below the `topOctets` of this host's trace fields. */
export function belowTop(content: MessageContent, topOctets: number, fields: string): MessageContent {
  return content.edit([{ start: topOctets, end: topOctets, insert: Buffer.from(fields) }]);
}

function changeRecipients(recipients: readonly PlannedRecipient[], changes: readonly RecipientChange[]): PlannedRecipient[] {
  return recipients.map((recipient) => {
    if (recipient.kind === 'remote') {
      const change = changes.find((c) => 'address' in c && c.address === recipient.address);
      return change?.fields ? { ...recipient, fields: (recipient.fields ?? '') + change.fields } : recipient;
    }
    const change = changes.find((c) => 'userId' in c && c.userId === recipient.userId);
    if (!change || !('userId' in change)) return recipient;
    return {
      ...recipient,
      folder: change.folder ?? recipient.folder,
      flags: [...new Set([...recipient.flags, ...(change.addFlags ?? [])])],
      keywords: [...new Set([...recipient.keywords, ...(change.addKeywords ?? [])])],
      ...(change.fields ? { fields: (recipient.fields ?? '') + change.fields } : {}),
      ...(change.subjectTag ? { subjectTag: change.subjectTag } : {}),
    };
  });
}
