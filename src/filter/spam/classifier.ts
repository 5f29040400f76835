// The statistical spam classifier: Gary Robinson's token probabilities combined with
// Fisher's chi-square method, as SpamBayes and bogofilter do (Robinson, "A Statistical
// Approach to the Spam Problem", Linux Journal 2003; SpamBayes' chi2_spamprob).
//
// For each feature w seen in s spam and h ham of the nSpam and nHam trained messages,
//   p(w) = (s / nSpam) / (s / nSpam + h / nHam)
//   f(w) = (STRENGTH · PRIOR + n · p(w)) / (STRENGTH + n),  n = s + h
// f pulls rare features towards PRIOR. Features with |f − 0.5| < MIN_DEVIATION say
// nothing and are dropped; of the rest the MAX_DISCRIMINATORS most extreme are combined:
//   S = 1 − Q(−2 Σ ln(1 − f), 2k),  H = 1 − Q(−2 Σ ln f, 2k),  score = (1 + S − H) / 2
// with Q the chi-square survival function (even degrees of freedom). A score near 1 is
// spam, near 0 ham, and near 0.5 the classifier does not know (both or neither).
//
// Counts live in TokenCounts (a TokenTable in memory); the store keeps them per
// instance and per user (src/store/spam.ts).
import { dayOf, TokenTable, type TokenCount } from './token-table.ts';

// Chosen on the SpamAssassin corpus (bench/spam.ts, 5 folds, seed 1; README, Spam
// filter): SpamBayes' own defaults (0.45, 0.1, 150) gave AUC 0.99910 and 83.0 % recall at
// FPR ≤ 0.1 %; bogofilter's (0.0178, 0.375, all) 0.99945 and 87.6 %; these 0.99951 and 89.7 %.
export const STRENGTH = 0.1;
export const PRIOR = 0.5;
export const MIN_DEVIATION = 0.3;
export const MAX_DISCRIMINATORS = 300;

export type { TokenCount };

/** What a model knows: message totals and per-feature counts (features by their tokenHash). */
export interface TokenModel {
  readonly spamMessages: number;
  readonly hamMessages: number;
  count(hash: number): TokenCount | undefined;
}

export class TokenCounts implements TokenModel {
  spamMessages: number;
  hamMessages: number;
  readonly table: TokenTable;

  constructor(table = new TokenTable(), totals: { spamMessages: number; hamMessages: number } = { spamMessages: 0, hamMessages: 0 }) {
    this.table = table;
    this.spamMessages = totals.spamMessages;
    this.hamMessages = totals.hamMessages;
  }

  count(hash: number): TokenCount | undefined {
    return this.table.get(hash);
  }

  get size(): number {
    return this.table.size;
  }

  /** Learns one message's features (by their tokenHash) as spam or ham on `day`; `-1` unlearns (a correction). */
  learnHashes(hashes: Iterable<number>, spam: boolean, weight: 1 | -1 = 1, day = dayOf(Date.now())): void {
    if (spam) this.spamMessages = Math.max(0, this.spamMessages + weight);
    else this.hamMessages = Math.max(0, this.hamMessages + weight);
    for (const hash of hashes) this.table.add(hash, spam ? weight : 0, spam ? 0 : weight, day);
  }
}

/** f(w): the feature's spam probability, pulled towards PRIOR by how rarely it was seen. */
export function featureProbability(
  count: TokenCount | undefined,
  model: Pick<TokenModel, 'spamMessages' | 'hamMessages'>,
  { strength, prior }: Pick<ClassifierParameters, 'strength' | 'prior'> = DEFAULT_PARAMETERS,
): number {
  if (!count) return prior;
  const spamRatio = count.spam / Math.max(1, model.spamMessages);
  const hamRatio = count.ham / Math.max(1, model.hamMessages);
  const p = spamRatio + hamRatio === 0 ? prior : spamRatio / (spamRatio + hamRatio);
  const n = count.spam + count.ham;
  return (strength * prior + n * p) / (strength + n);
}

export interface Classification {
  /** In [0, 1]: 1 spam, 0 ham, 0.5 unknown. */
  score: number;
  /** How many features decided it (at most maxDiscriminators). */
  clues: number;
}

/** Scores a message's features against one or more models whose counts add (the instance's, then a user's). */
export interface ClassifierParameters {
  strength: number;
  prior: number;
  minDeviation: number;
  maxDiscriminators: number;
}

export const DEFAULT_PARAMETERS: ClassifierParameters = { strength: STRENGTH, prior: PRIOR, minDeviation: MIN_DEVIATION, maxDiscriminators: MAX_DISCRIMINATORS };

/** Classifies a message's features given by their tokenHash (distinct: a repeated hash counts again). */
export function classifyHashes(features: ArrayLike<number> | ReadonlySet<number>, models: readonly TokenModel[], parameters: ClassifierParameters = DEFAULT_PARAMETERS): Classification {
  const hashes: ArrayLike<number> = features instanceof Set ? [...features] : (features as ArrayLike<number>);
  const totals = {
    spamMessages: models.reduce((n, m) => n + m.spamMessages, 0),
    hamMessages: models.reduce((n, m) => n + m.hamMessages, 0),
  };
  // The clues' probabilities, in a reused array: no object per feature.
  const probabilities = clueBuffer(hashes.length);
  let count = 0;
  for (let i = 0; i < hashes.length; i++) {
    let spam = 0;
    let ham = 0;
    for (const model of models) {
      const found = model.count(hashes[i]!);
      if (found) {
        spam += found.spam;
        ham += found.ham;
      }
    }
    if (spam + ham === 0) continue;
    const probability = featureProbability({ spam, ham }, totals, parameters);
    if (Math.abs(probability - 0.5) >= parameters.minDeviation) probabilities[count++] = probability;
  }
  if (count === 0) return { score: 0.5, clues: 0 };
  // The maxDiscriminators most extreme (the sums below do not depend on their order).
  let used = probabilities.subarray(0, count);
  if (count > parameters.maxDiscriminators) {
    used.sort((a, b) => Math.abs(b - 0.5) - Math.abs(a - 0.5) || a - b);
    used = used.subarray(0, parameters.maxDiscriminators);
  }
  let hamSum = 0;
  let spamSum = 0;
  for (const probability of used) {
    hamSum += Math.log(probability);
    spamSum += Math.log(1 - probability);
  }
  const S = 1 - chi2Q(-2 * spamSum, 2 * used.length);
  const H = 1 - chi2Q(-2 * hamSum, 2 * used.length);
  return { score: (1 + S - H) / 2, clues: used.length };
}

let clues = new Float64Array(1024);
function clueBuffer(size: number): Float64Array {
  if (clues.length < size) clues = new Float64Array(Math.max(size, clues.length * 2));
  return clues;
}

/** Q(x², v): the probability that a chi-square variable of v (even) degrees of freedom exceeds x². */
export function chi2Q(x2: number, v: number): number {
  const m = x2 / 2;
  let term = Math.exp(-m);
  let sum = term;
  for (let i = 1; i < v / 2; i++) {
    term *= m / i;
    sum += term;
  }
  return Math.min(sum, 1);
}
