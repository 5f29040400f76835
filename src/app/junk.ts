// What keeps junk from needing an administrator: Junk expires by itself ([spam]
// junk_keep), and a user who reads mail only over POP3 (which shows INBOX alone) and
// chose the digest (`kakitome user junk ADDRESS digest`) gets, at most once a day, one
// message in INBOX listing what went to Junk since the last one. `serve` runs both
// hourly (and once at start); `kakitome spam digest` sends the due digests now.
import type { Logger } from 'pino';
import type { Intake } from '../intake/intake.ts';
import type { AccountStore } from '../store/accounts.ts';
import { JUNK, type MailboxStore, type StoredMessage } from '../store/mailboxes.ts';
import type { SpamStore } from '../store/spam.ts';
import { parseHeaderSection } from '../mail/header.ts';
import { rfc5322Date } from '../mail/date.ts';
import { randomHex } from '../mail/random-id.ts';
import { fieldText } from '../filter/attachments/encoded-words.ts';
import { startPeriodic, type Periodic } from './periodic.ts';

export const HOUSEKEEPING_INTERVAL_MS = 60 * 60_000;
/** A digest goes out at most this often. */
export const DIGEST_INTERVAL_MS = 24 * 60 * 60_000;
/** Junk messages listed in one digest; more are counted. */
const DIGEST_MAX_LINES = 200;
/** Octets of a junk message read for its From, Subject and score. */
const HEADER_READ_BYTES = 64 * 1024;

export interface JunkServices {
  accounts: Pick<AccountStore, 'getUserById'>;
  mailboxes: Pick<MailboxStore, 'findMailbox' | 'listMessages' | 'openMessage' | 'expireFolder'>;
  spam: Pick<SpamStore, 'digestUsers' | 'setDigestSent'>;
  intake: Pick<Intake, 'take'>;
}

/** Sends every digest that is due; returns how many went. */
export async function sendJunkDigests(services: JunkServices, options: { junkKeepMs: number; now?: number }): Promise<number> {
  const now = options.now ?? Date.now();
  let sent = 0;
  for (const { userId, lastDigestAt } of await services.spam.digestUsers()) {
    if (now - lastDigestAt < DIGEST_INTERVAL_MS) continue;
    const user = await services.accounts.getUserById(userId);
    const mailboxId = await services.mailboxes.findMailbox(userId, JUNK);
    if (!user || mailboxId === undefined) continue;
    const since = lastDigestAt === 0 ? now - DIGEST_INTERVAL_MS : lastDigestAt;
    const fresh = (await services.mailboxes.listMessages(mailboxId)).filter((m) => m.receivedAt >= since && m.receivedAt < now);
    if (fresh.length === 0) continue;
    const lines = await Promise.all(fresh.slice(0, DIGEST_MAX_LINES).map((message) => digestLine(services.mailboxes, message)));
    const digest = digestMessage(user.address, lines, fresh.length, since, now, options.junkKeepMs);
    const outcome = await services.intake.take({
      origin: 'notice',
      queueId: randomHex(8),
      mailFrom: '',
      envelopeRecipients: [user.address],
      recipients: { userIds: [userId], remote: [] },
      client: null,
      content: digest,
    });
    if (outcome.action !== 'accept') throw new Error(`junk digest for ${user.address} refused: ${outcome.reply.text}`);
    await services.spam.setDigestSent(userId, now);
    sent++;
  }
  return sent;
}

/** What a junk message shows of itself: when it came, From, Subject and its score ('' when absent). */
export interface JunkSummary {
  receivedAt: number;
  from: string;
  subject: string;
  score: string;
}

export async function junkSummary(mailboxes: Pick<MailboxStore, 'openMessage'>, message: StoredMessage): Promise<JunkSummary> {
  const header = await readStart(mailboxes, message.id, HEADER_READ_BYTES);
  const fields = parseHeaderSection(header).fields;
  const value = (name: string) => {
    const field = fields.find((f) => f.name.toLowerCase() === name);
    return field ? shown(fieldText(field.value)) : '';
  };
  return { receivedAt: message.receivedAt, from: value('from'), subject: value('subject'), score: value('x-spam-score') };
}

/** "2026-12-07 10:00  sender@example.com  Subject (score 7.21)". */
async function digestLine(mailboxes: Pick<MailboxStore, 'openMessage'>, message: StoredMessage): Promise<string> {
  const { receivedAt, from, subject, score } = await junkSummary(mailboxes, message);
  const when = new Date(receivedAt).toISOString().slice(0, 16).replace('T', ' ');
  return `${when}  ${from || '(no From)'}  ${subject || '(no Subject)'}${score ? `  (score ${score})` : ''}`;
}

/** One line of text from a header field of junk: no control characters, bounded. */
function shown(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
  return clean.length > 120 ? `${clean.slice(0, 117)}...` : clean;
}

async function readStart(mailboxes: Pick<MailboxStore, 'openMessage'>, id: number, maxBytes: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let size = 0;
  const stream = await mailboxes.openMessage(id);
  for await (const chunk of stream) {
    pieces.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= maxBytes) break;
  }
  stream.destroy();
  return Buffer.concat(pieces).subarray(0, maxBytes);
}

function digestMessage(address: string, lines: readonly string[], total: number, since: number, now: number, junkKeepMs: number): Buffer {
  const domain = address.slice(address.lastIndexOf('@') + 1);
  const days = Math.round(junkKeepMs / 86_400_000);
  const body = [
    `${total} message${total === 1 ? '' : 's'} for you arrived since ${new Date(since).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    'and were filed in your Junk mailbox as spam:',
    '',
    ...lines.map((line) => `  ${line}`),
    ...(total > lines.length ? [`  ... and ${total - lines.length} more`] : []),
    '',
    junkKeepMs > 0 ? `Junk is deleted by itself after ${days} day${days === 1 ? '' : 's'}.` : 'Junk is kept until it is deleted.',
    'If one of these is mail you want, ask your mail administrator to move it to your',
    'INBOX (it will then come with your other mail), or read your Junk mailbox with an',
    'IMAP mail program.',
    '',
  ];
  const header = [
    `From: Mail system <postmaster@${domain}>`,
    `To: <${address}>`,
    `Subject: Junk mail: ${total} message${total === 1 ? '' : 's'} filed as spam`,
    `Date: ${rfc5322Date(new Date(now))}`,
    `Message-ID: <junk-digest.${randomHex(16)}@${domain}>`,
    // RFC 3834 §5: made by a program; nobody should answer it automatically.
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
  ];
  return Buffer.from(`${header.join('\r\n')}\r\n\r\n${body.join('\r\n')}`);
}

export type JunkHousekeeping = Periodic<{ expired: number; digests: number }>;

/** serve's hourly sweep: Junk older than junk_keep goes (never with "0s"), due digests go out. */
export function startJunkHousekeeping(services: JunkServices, junkKeepMs: number, logger: Logger, intervalMs = HOUSEKEEPING_INTERVAL_MS): JunkHousekeeping {
  const sweep = async () => {
    let expired = 0;
    let digests = 0;
    try {
      if (junkKeepMs > 0) expired = await services.mailboxes.expireFolder(JUNK, Date.now() - junkKeepMs);
      if (expired > 0) logger.info({ count: expired, junkKeepMs }, 'expired junk deleted');
    } catch (err) {
      logger.error({ err }, 'junk expiry failed; trying again at the next sweep');
    }
    try {
      digests = await sendJunkDigests(services, { junkKeepMs });
      if (digests > 0) logger.info({ count: digests }, 'junk digests sent');
    } catch (err) {
      logger.error({ err }, 'junk digests failed; trying again at the next sweep');
    }
    return { expired, digests };
  };
  return startPeriodic(sweep, intervalMs, { idle: { expired: 0, digests: 0 } });
}
