// `[antivirus] rescan_on_retrieval`: before POP3 sends a stored message (RETR, TOP), the
// engines scan it again if their signatures changed since it was scanned (what scanned
// it is stored with it: StoredMessage.scannedWith). Clean: it is sent, and the new
// versions are recorded, so it is not scanned again until they change. Infected: the
// client gets a notice in its place — the original's From, To, Cc, Date, Subject and
// Message-ID, marked X-Kakitome-Virus, and a text naming the signature — and the MDA
// moves the original to the quarantine, in one transaction (the message keeps its UIDL).
// An engine down: not sent (-ERR [SYS/TEMP]), unless fail_open, which sends it as stored.
//
// The scan is the intake's (the whole message, then every encoded part decoded), so a
// rescan finds what the intake would find today.
import type { Logger } from 'pino';
import { MessageContent } from '../intake/content.ts';
import { scanMessage, type AntivirusStepOptions } from '../intake/steps/antivirus.ts';
import { VIRUS_FIELD } from '../intake/steps/own-fields.ts';
import type { MailDeliveryAgent } from '../mda/deliver.ts';
import { parseHeaderSection } from '../mail/header.ts';
import { randomHex } from '../mail/random-id.ts';
import { RetrievalScanUnavailable, type RetrievalScan } from '../mra/retrieval-scan.ts';
import { RELEASED_UNSCANNED, type StoredMessage } from '../store/mailboxes.ts';

/** Header fields of the original that the notice keeps, so the client files it as the message it replaces. */
const KEPT_FIELDS = new Set(['from', 'to', 'cc', 'date', 'subject', 'message-id']);

export function retrievalScan(
  options: AntivirusStepOptions,
  mda: Pick<MailDeliveryAgent, 'replaceWithNotice' | 'recordScan'>,
  logger: Logger,
): RetrievalScan {
  return {
    async content(userId: number, message: StoredMessage, stored: Buffer) {
      if (message.scannedWith === RELEASED_UNSCANNED) return { content: stored, replaced: false };
      const versions = await options.versions.current();
      if (message.scannedWith === versions) return { content: stored, replaced: false };
      const content = MessageContent.fromBuffer(stored);
      const result = await scanMessage({ original: content, content }, options, false);
      const log = { userId, messageId: message.id, scannedWith: message.scannedWith, versions };
      switch (result.verdict) {
        case 'clean':
          await mda.recordScan([message.id], versions);
          return { content: stored, replaced: false };
        case 'failed':
          logger.error({ ...log, engine: result.engine, reason: result.reason }, 'rescan at retrieval failed');
          if (options.failOpen) return { content: stored, replaced: false };
          throw new RetrievalScanUnavailable(`${result.engine}: ${result.reason}`);
        case 'infected': {
          const quarantineId = randomHex(8);
          const notice = noticeFor(stored, result.engine, result.signature, quarantineId);
          const replaced = await mda.replaceWithNotice(message.id, notice, versions, {
            quarantineId,
            reason: 'virus',
            detail: `${result.engine}: ${result.signature} (found at retrieval)`,
            delivered: true,
            origin: 'mta',
            mailFrom: '',
            recipients: { users: [userId], remote: [] },
          });
          logger.warn({ ...log, engine: result.engine, signature: result.signature, quarantineId, replaced }, 'malware found at retrieval; original quarantined');
          // Expunged by another session meanwhile: nothing to replace, and nothing infected is sent.
          return { content: notice, replaced: true };
        }
      }
    },
  };
}

/** The message that takes an infected one's place in the mailbox. */
function noticeFor(stored: Buffer, engine: string, signature: string, quarantineId: string): Buffer {
  const { fields } = parseHeaderSection(stored);
  // The fields' octets as stored (folded lines and 8-bit text kept), each without its final CRLF.
  const kept = fields.filter((field) => KEPT_FIELDS.has(field.name.toLowerCase())).map((field) => stored.subarray(field.start, field.end - 2).toString('latin1'));
  return Buffer.from(
    [
      ...kept,
      `${VIRUS_FIELD}: ${signature} found by ${engine} at retrieval; original quarantined as ${quarantineId}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=us-ascii',
      'Content-Transfer-Encoding: 7bit',
      '',
      'This mail server scanned this message again when you retrieved it, with newer',
      'virus signatures, and found malware in it:',
      `  ${signature} (found by ${engine})`,
      `The original message is kept in the quarantine as ${quarantineId}; ask your`,
      'administrator if you need it.',
      '',
    ].join('\r\n'),
    'latin1',
  );
}
