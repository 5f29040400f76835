// How a message's spam score is made and what it decides (README, Spam filter: how
// scores combine). Everything is in points, as SpamAssassin and rspamd count them:
//
//   total = classifier points + Σ points of each rule that hit + Σ points of each fact
//
// The classifier's probability p becomes its log-odds, ln(p / (1 − p)), clamped to
// ±CLASSIFIER_LIMIT: p = 0.5 (no opinion) adds nothing, p = 0.95 adds 2.9, p = 0.999
// adds 6.9, and no message is refused on the classifier alone below p ≈ 0.9999
// (reject_score 9). So a rule's points are log-odds too: +2.3 multiplies the odds by
// ten. Until the classifier has learned min_ham and min_spam messages it abstains and
// adds 0: the rules and facts alone act.
//
// The total then decides, per threshold (config [spam]): at or above reject_score, 550
// in the session; quarantine_score, held whole for an administrator; junk_score, filed
// as junk; below, delivered, tagged.

export const CLASSIFIER_LIMIT = 10;

/** One contribution to the total, shown in X-Spam-Status as NAME=points. */
export interface ScoreTerm {
  name: string;
  points: number;
}

/** A keyword or pattern rule (config [[spam.rule]]), compiled. */
export interface SpamRule {
  name: string;
  /** Lower-case field name, or '' for the body text. */
  header: string;
  /** Matched against lower-cased text (linear-time engine: src/config/pattern.ts). */
  pattern: RegExp;
  points: number;
}

export type SpamAction = 'reject' | 'quarantine' | 'junk' | 'tag';

export interface SpamThresholds {
  junk: number;
  quarantine: number;
  reject: number;
}

/** ln(p / (1 − p)) within ±limit (p = 0 or 1 included). */
export function clampedLogOdds(p: number, limit: number): number {
  if (!(p > 0)) return -limit;
  if (!(p < 1)) return limit;
  return Math.max(-limit, Math.min(limit, Math.log(p / (1 - p))));
}

/** The classifier's probability as points (its log-odds, clamped). */
export function classifierPoints(probability: number): number {
  return clampedLogOdds(probability, CLASSIFIER_LIMIT);
}

/** The rules that hit: a header rule on any occurrence of its field, a body rule on the text. */
export function ruleHits(rules: readonly SpamRule[], message: { fields: readonly { name: string; value: string }[]; text: string }): ScoreTerm[] {
  const hits: ScoreTerm[] = [];
  for (const rule of rules) {
    const texts = rule.header === '' ? [message.text] : message.fields.filter((f) => f.name.toLowerCase() === rule.header).map((f) => f.value.toLowerCase());
    rule.pattern.lastIndex = 0;
    if (texts.some((text) => rule.pattern.test(text))) hits.push({ name: rule.name, points: rule.points });
  }
  return hits;
}

export function totalOf(terms: readonly ScoreTerm[]): number {
  return terms.reduce((n, term) => n + term.points, 0);
}

export function actionFor(total: number, thresholds: SpamThresholds): SpamAction {
  if (total >= thresholds.reject) return 'reject';
  if (total >= thresholds.quarantine) return 'quarantine';
  if (total >= thresholds.junk) return 'junk';
  return 'tag';
}

/** The total's points with two decimals, as the header fields show them. */
export const shownPoints = (points: number) => (Math.round(points * 100) / 100).toFixed(2);

/**
 * The header fields a copy gets (SpamAssassin's names, which mail programs filter on):
 *   X-Spam-Flag: YES                    (junk and above only)
 *   X-Spam-Score: 7.21
 *   X-Spam-Status: Yes, score=7.21 required=3.00 tests=BAYES=5.21,SPF_FAIL=1.50,...
 */
export function spamFields(total: number, terms: readonly ScoreTerm[], junkScore: number): string {
  const spam = total >= junkScore;
  const tests = terms.map((term) => `${term.name}=${shownPoints(term.points)}`).join(',') || 'none';
  return [
    ...(spam ? ['X-Spam-Flag: YES'] : []),
    `X-Spam-Score: ${shownPoints(total)}`,
    `X-Spam-Status: ${spam ? 'Yes' : 'No'}, score=${shownPoints(total)} required=${shownPoints(junkScore)}\r\n\ttests=${tests}`,
    '',
  ].join('\r\n');
}

/** Names of incoming fields that only this host may write (removed from what arrives). */
export const SPAM_FIELD_NAMES: readonly string[] = ['x-spam-flag', 'x-spam-score', 'x-spam-status', 'x-spam-level'];

/** `spam score`'s verdict for a classifier probability: spam at or above the junk score's probability, ham as far below 0.5. */
export function verdictOf(probability: number, junkScore: number): 'spam' | 'unsure' | 'ham' {
  const points = classifierPoints(probability);
  if (points >= junkScore) return 'spam';
  if (points <= -junkScore) return 'ham';
  return 'unsure';
}
