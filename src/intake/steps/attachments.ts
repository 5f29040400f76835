// Intake step `attachments` (port 25: inbound; submission: outbound): dangerous files by
// name — blocked extensions, double extensions, deceptive names — also inside zip, tar,
// gzip, 7z and rar archives, nested (src/filter/attachments/). What each direction does
// with a blocked file is the administrator's choice ([attachments] inbound, outbound):
//   strip   the part is replaced by a short text part naming the file; the message is
//           delivered, marked X-Kakitome-Removed-Attachment, and the original kept in
//           the quarantine (under the message's queue id);
//   reject  554 5.7.1 in the session, naming the file.
// Encrypted archives cannot be inspected: they pass unchanged, marked
// X-Kakitome-Encrypted-Attachment. An archive bomb, MIME or archives nested past the
// limits, or more parts than can be inspected: 554 5.7.1 whatever the action — what
// cannot be inspected does not pass as if it had been. The step sees the content as the
// antivirus step left it (after it in both origins' lists), and runs before dkim-sign.
import { inspectAttachments } from '../../filter/attachments/inspect.ts';
import { shownName } from '../../filter/attachments/names.ts';
import { cannotHoldAttachment } from '../../filter/attachments/plain.ts';
import { parseHeaderSection } from '../../mail/header.ts';
import type { AttachmentFinding } from '../../filter/attachments/report.ts';
import type { Reply } from '../../mail/reply.ts';
import type { ContentEdit } from '../content.ts';
import { accept, refuse, type Step } from '../step.ts';
import { OWN_FIELD_PREFIX } from './own-fields.ts';
import { scratchReady } from './antivirus.ts';

export const ENCRYPTED_ATTACHMENT_FIELD = `${OWN_FIELD_PREFIX}Encrypted-Attachment`;
export const REMOVED_ATTACHMENT_FIELD = `${OWN_FIELD_PREFIX}Removed-Attachment`;

export interface AttachmentStepOptions {
  direction: 'inbound' | 'outbound';
  action: 'strip' | 'reject';
  blockedExtensions: ReadonlySet<string>;
  /** Where bodies over 1 MiB are spooled while inspected (0700, inside data_dir). */
  scratchDir: string;
  /** The message size limit: no body is larger. */
  maxBytes: number;
}

/** "evil.exe in inner.zip in outer.zip" for a path ['outer.zip', 'inner.zip', 'evil.exe']. */
function described(finding: AttachmentFinding): string {
  const path = finding.path.length > 0 ? finding.path : [finding.name];
  return path.map(shownName).reverse().join('" in "');
}

export const ATTACHMENT_REPLY = {
  /** RFC 3463 §3.8 X.7.1: delivery not authorized, message refused. */
  blocked: (finding: AttachmentFinding & { kind: 'blocked' }): Reply => ({
    code: 554,
    enhanced: '5.7.1',
    text: `message refused: attachment "${described(finding)}" is not accepted (.${shownName(finding.extension)} files)`,
  }),
  uninspectable: (finding: AttachmentFinding, why: string): Reply => ({
    code: 554,
    enhanced: '5.7.1',
    text: `message refused: attachment "${described(finding)}" cannot be inspected (${why})`,
  }),
} as const;

function uninspectable(finding: AttachmentFinding): string | undefined {
  switch (finding.kind) {
    case 'bomb':
      return `archive bomb: ${finding.reason}`;
    case 'too-deep':
      return finding.limit === 'mime' ? 'MIME parts nested too deep' : 'archives nested too deep';
    case 'too-many-parts':
      return `more than ${finding.limit} MIME parts`;
    default:
      return undefined;
  }
}

/** The text part that takes a removed attachment's place. */
function notice(blocked: Array<AttachmentFinding & { kind: 'blocked' }>, quarantineId: string): Buffer {
  const lines = blocked.map((f) => `  "${described(f)}" (.${shownName(f.extension)} files are not accepted)`);
  return Buffer.from([
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Disposition: inline',
    'Content-Transfer-Encoding: 7bit',
    '',
    `This mail server removed ${blocked.length === 1 ? 'an attachment' : 'attachments'} from this message:`,
    ...lines,
    `The mail server that removed ${blocked.length === 1 ? 'it' : 'them'} keeps the original message in its quarantine`,
    `as ${quarantineId}.`,
  ].join('\r\n'));
}

export function attachmentsStep(options: AttachmentStepOptions): Step {
  return {
    name: 'attachments',
    timeoutMs: 60_000,
    run: async (draft, context) => {
      if (cannotHoldAttachment(parseHeaderSection(await draft.content.header()).fields)) return accept();
      await scratchReady(options.scratchDir);
      const report = await inspectAttachments(draft.content.stream(), {
        scratchDir: options.scratchDir,
        blockedExtensions: options.blockedExtensions,
        maxSpoolSize: Math.max(options.maxBytes, 1024 * 1024),
      });
      const log = (verdict: string, finding?: AttachmentFinding) =>
        context.logger.info({ queueId: context.queueId, direction: options.direction, verdict, ...(finding ? { kind: finding.kind, path: finding.path } : {}) }, 'attachment policy');

      for (const finding of report.findings) {
        const why = uninspectable(finding);
        if (why) {
          log('refused', finding);
          return refuse(ATTACHMENT_REPLY.uninspectable(finding, why), { attachments: `refused: ${finding.kind}` });
        }
      }
      const blocked = report.findings.filter((f): f is AttachmentFinding & { kind: 'blocked' } => f.kind === 'blocked');
      // Strip cannot remove the message itself (a single-part message that is the file).
      const whole = blocked.find((f) => f.partRange.start === 0);
      if (blocked.length > 0 && (options.action === 'reject' || whole)) {
        log('refused', whole ?? blocked[0]);
        return refuse(ATTACHMENT_REPLY.blocked(whole ?? blocked[0]!), { attachments: `refused: ${described(whole ?? blocked[0]!)}` });
      }

      const fields: string[] = [];
      const edits: ContentEdit[] = [];
      // One notice per part; a part inside one already replaced goes with it.
      const byPart = new Map<string, Array<AttachmentFinding & { kind: 'blocked' }>>();
      for (const finding of blocked) {
        const key = `${finding.partRange.start}:${finding.partRange.end}`;
        byPart.set(key, [...(byPart.get(key) ?? []), finding]);
      }
      let coveredTo = -1;
      for (const group of [...byPart.values()].sort((a, b) => a[0]!.partRange.start - b[0]!.partRange.start)) {
        const { start, end } = group[0]!.partRange;
        if (start < coveredTo) continue;
        coveredTo = end;
        edits.push({ start, end, insert: notice(group, context.queueId) });
        for (const finding of group) fields.push(`${REMOVED_ATTACHMENT_FIELD}: ${described(finding)}`);
      }
      const encrypted = new Set(report.findings.filter((f) => f.kind === 'encrypted').map((f) => shownName(f.path[0] ?? f.name)));
      for (const name of encrypted) fields.push(`${ENCRYPTED_ATTACHMENT_FIELD}: ${name}`);

      if (edits.length === 0 && fields.length === 0) return accept();
      log(edits.length > 0 ? 'stripped' : 'encrypted passed');
      return {
        action: 'modify',
        prepend: fields.map((field) => `${field}\r\n`).join(''),
        edits,
        // What is stripped is kept: the original goes to the quarantine, for `kakitome quarantine release`.
        ...(edits.length > 0 ? { quarantine: { reason: 'attachment' as const, detail: blocked.map(described).map((d) => `"${d}"`).join(', ') } } : {}),
        notes: { attachments: edits.length > 0 ? `stripped ${edits.length}` : `encrypted ${encrypted.size}` },
      };
    },
  };
}
