// Intake step `spam` (port 25, after the content filters): scores the message as it
// arrived — the classifier (the instance's model, and each recipient's own model on
// top), the keyword and pattern rules, and what earlier steps found (SPF, DKIM, DMARC,
// Sender ID, a stripped attachment; a scored block-list listing; a From display name
// that imitates a local domain) — and acts on the total (src/filter/spam/score.ts):
//   reject      550 5.7.1 in the session: the sender is told, nothing is bounced later;
//   quarantine  held whole for an administrator (kakitome quarantine);
//   junk        each local recipient whose own total reaches junk_score gets it as their
//               junk mode says: in Junk, or in INBOX with "[SPAM]" before the Subject;
//   tag         delivered; every copy carries X-Spam-Score and X-Spam-Status.
// Reject and quarantine are decided on the instance's view (one decision for the whole
// session); junk per recipient. Incoming X-Spam-* fields are removed: only this host
// says what it thinks of a message.
import { readMessage } from '../../filter/spam/tokens.ts';
import { GRAM_OCTETS, messageGrams } from '../../filter/spam/grams.ts';
import { scoreLayers, trainedTotals, type SpamModel } from '../../filter/spam/model.ts';
import { actionFor, classifierPoints, ruleHits, shownPoints, SPAM_FIELD_NAMES, spamFields, totalOf, type ScoreTerm, type SpamRule, type SpamThresholds } from '../../filter/spam/score.ts';
import { parseHeaderSection } from '../../mail/header.ts';
import { fieldText } from '../../filter/attachments/encoded-words.ts';
import type { Reply } from '../../mail/reply.ts';
import type { JunkMode } from '../../store/spam.ts';
import { JUNK } from '../../store/mailboxes.ts';
import type { Draft, RecipientChange, Step } from '../step.ts';
import { scratchReady } from './antivirus.ts';

/** The models, current: the instance's, and a user's layer on top of it. */
export interface SpamModels {
  /** [instance] or [instance, user]; [] while nothing was ever trained. */
  layers(userId?: number): Promise<SpamModel[]>;
  junkMode(userId: number): Promise<JunkMode>;
}

/** Points of what the other checks found (config [spam.scores]). */
export interface FactScores {
  spf_fail: number;
  spf_softfail: number;
  dkim_fail: number;
  dmarc_fail: number;
  dmarc_quarantine: number;
  senderid_fail: number;
  dnsbl_listed: number;
  attachment_blocked: number;
  display_name_imitation: number;
}

export interface SpamStepOptions {
  models: SpamModels;
  rules: readonly SpamRule[];
  scores: FactScores;
  thresholds: SpamThresholds;
  /** The classifier abstains until its layers have learned this many of each. */
  minHam: number;
  minSpam: number;
  /** A scored block list's zone listing the client, if any ([dnsbl] scored_zones). */
  listedIn?: (address: string) => Promise<string | undefined>;
  localDomains: () => Promise<readonly string[]>;
  scratchDir: string;
  maxBytes: number;
}

export const SPAM_REPLY = {
  /** RFC 3463 §3.8 X.7.1: delivery not authorized, message refused (SPEC: spam over the reject threshold). */
  refused: (total: number): Reply => ({ code: 550, enhanced: '5.7.1', text: `message refused as spam (score ${shownPoints(total)})` }),
} as const;

export const SPAM_TAG = '[SPAM]';

export function spamStep(options: SpamStepOptions): Step {
  return {
    name: 'spam',
    timeoutMs: 60_000,
    run: async (draft, context) => {
      // The layers first: while no model has learned enough (a new instance) and no rule
      // reads the body, the message is not tokenized at all — the header is enough.
      const instanceLayers = await options.models.layers();
      const layersOf = new Map<number, SpamModel[]>();
      for (const recipient of draft.recipients) {
        if (recipient.kind === 'mailbox' && !layersOf.has(recipient.userId)) layersOf.set(recipient.userId, await options.models.layers(recipient.userId));
      }
      const scores = (layers: readonly SpamModel[]) => {
        const trained = trainedTotals(layers);
        return layers.length > 0 && trained.ham >= options.minHam && trained.spam >= options.minSpam;
      };
      const classifying = scores(instanceLayers) || [...layersOf.values()].some(scores);
      const bodyRules = options.rules.some((rule) => rule.header === '');
      let reading: { tokens: Uint32Array; fields: { name: string; value: string }[]; text: string };
      if (classifying || bodyRules) {
        await scratchReady(options.scratchDir);
        reading = await readMessage(draft.original.stream(), { scratchDir: options.scratchDir, maxBytes: options.maxBytes, withText: bodyRules });
      } else {
        reading = { tokens: new Uint32Array(0), fields: decodedFields(await draft.original.header()), text: '' };
      }
      const features = { tokens: reading.tokens, grams: classifying ? messageGrams(await draft.original.start(GRAM_OCTETS)) : new Uint32Array(0) };
      const shared: ScoreTerm[] = [
        ...(await factTerms(draft, options, context.client?.address, reading.fields)),
        ...ruleHits(options.rules, reading),
      ];
      const classifierTerm = (layers: readonly SpamModel[]): ScoreTerm[] => {
        if (!scores(layers)) return [];
        const { score } = scoreLayers(layers, features);
        return [{ name: `BAYES_${Math.floor(score * 100)}`, points: classifierPoints(score) }];
      };
      const terms = [...classifierTerm(instanceLayers), ...shared];
      const total = totalOf(terms);
      const action = actionFor(total, options.thresholds);
      const notes = { spam: { score: Number(shownPoints(total)), action, tests: terms.map((t) => t.name).join(',') } };
      const edits = incomingSpamFields(await draft.content.header());
      const fields = spamFields(total, terms, options.thresholds.junk);
      if (action === 'reject') return { action: 'reject', reply: SPAM_REPLY.refused(total), notes };
      if (action === 'quarantine') return { action: 'hold', reason: 'spam', detail: `score ${shownPoints(total)} (${terms.map((t) => t.name).join(', ')})`, edits, fields, notes };
      const recipients: RecipientChange[] = [];
      for (const recipient of draft.recipients) {
        if (recipient.kind === 'remote') {
          recipients.push({ address: recipient.address, fields });
          continue;
        }
        const layers = layersOf.get(recipient.userId)!;
        const own = layers.length > instanceLayers.length ? [...classifierTerm(layers), ...shared] : terms;
        const ownTotal = own === terms ? total : totalOf(own);
        const ownFields = own === terms ? fields : spamFields(ownTotal, own, options.thresholds.junk);
        if (ownTotal < options.thresholds.junk) {
          recipients.push({ userId: recipient.userId, fields: ownFields });
          continue;
        }
        const mode = await options.models.junkMode(recipient.userId);
        recipients.push(mode === 'inbox' ? { userId: recipient.userId, fields: ownFields, subjectTag: SPAM_TAG } : { userId: recipient.userId, folder: JUNK, fields: ownFields });
      }
      return { action: 'modify', edits, recipients, notes };
    },
  };
}

/** The facts earlier steps recorded (draft.notes), the client's scored listing, and the From display name, as terms. */
async function factTerms(draft: Draft, options: SpamStepOptions, client: string | undefined, fields: readonly { name: string; value: string }[]): Promise<ScoreTerm[]> {
  const { scores } = options;
  const terms: ScoreTerm[] = [];
  const auth = draft.notes.auth as Record<string, string> | undefined;
  if (auth) {
    if (auth.spf === 'fail') terms.push({ name: 'SPF_FAIL', points: scores.spf_fail });
    if (auth.spf === 'softfail') terms.push({ name: 'SPF_SOFTFAIL', points: scores.spf_softfail });
    const dkim = (auth.dkim ?? 'none').split(',');
    if (dkim.some((d) => d.startsWith('fail')) && !dkim.some((d) => d.startsWith('pass'))) terms.push({ name: 'DKIM_FAIL', points: scores.dkim_fail });
    if (auth.dmarc === 'fail') terms.push({ name: 'DMARC_FAIL', points: scores.dmarc_fail });
    if (auth.senderId === 'fail') terms.push({ name: 'SENDERID_FAIL', points: scores.senderid_fail });
  }
  if (draft.notes.quarantine === true) terms.push({ name: 'DMARC_QUARANTINE', points: scores.dmarc_quarantine });
  if (typeof draft.notes.attachments === 'string' && draft.notes.attachments.startsWith('stripped')) terms.push({ name: 'ATTACHMENT_BLOCKED', points: scores.attachment_blocked });
  if (client && options.listedIn) {
    const zone = await options.listedIn(client);
    if (zone) terms.push({ name: `DNSBL_${zone.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`, points: scores.dnsbl_listed });
  }
  if (await imitatesLocalDomain(fields, options.localDomains)) terms.push({ name: 'DISPLAY_NAME_IMITATION', points: scores.display_name_imitation });
  return terms.filter((term) => term.points !== 0);
}

/**
 * A From whose display name shows a local domain (or an address in one) while its
 * address is elsewhere: "IT Desk it@example.com" <x@evil.example>, the look of internal
 * mail that DMARC cannot catch because the address itself is not forged.
 */
export async function imitatesLocalDomain(fields: readonly { name: string; value: string }[], localDomains: () => Promise<readonly string[]>): Promise<boolean> {
  const from = fields.find((field) => field.name.toLowerCase() === 'from')?.value;
  if (!from) return false;
  const angle = from.lastIndexOf('<');
  if (angle <= 0) return false;
  const display = from.slice(0, angle).toLowerCase();
  const address = from.slice(angle + 1).replace(/>.*$/s, '').trim().toLowerCase();
  const domain = address.slice(address.lastIndexOf('@') + 1);
  const local = await localDomains();
  if (local.includes(domain)) return false;
  return domainPatterns(local).some((pattern) => pattern.test(display));
}

/** A pattern per local domain (the name, not inside a longer one), made once per list of domains. */
const domainPatternCache = new WeakMap<readonly string[], RegExp[]>();
function domainPatterns(local: readonly string[]): RegExp[] {
  let patterns = domainPatternCache.get(local);
  if (!patterns) {
    patterns = local.map((name) => new RegExp(`(^|[^a-z0-9.-])${name.replace(/[.]/g, '\\.')}($|[^a-z0-9-])`));
    domainPatternCache.set(local, patterns);
  }
  return patterns;
}

/** The header's fields as readMessage gives them (encoded words decoded), without reading the body. */
function decodedFields(header: Buffer): { name: string; value: string }[] {
  // The walk reads header octets as latin1 and fieldText turns 8-bit UTF-8 back into
  // text; parsed through a UTF-8 copy of the latin1 text, the values are those same latin1 strings.
  const octets = Buffer.from(header.toString('latin1'), 'utf8');
  return parseHeaderSection(octets).fields.map((field) => ({ name: field.name, value: fieldText(field.value) }));
}

/** Edits removing incoming X-Spam-* fields of the header. */
function incomingSpamFields(header: Buffer) {
  return parseHeaderSection(header)
    .fields.filter((field) => SPAM_FIELD_NAMES.includes(field.name.toLowerCase()))
    .map(({ start, end }) => ({ start, end }));
}
