// How well a spam classifier separates: the measures `kakitome spam eval` and
// bench/spam.ts print, over scored messages whose truth is known. A message is called
// spam when its score is above the threshold.

export interface Judged {
  /** The truth. */
  spam: boolean;
  /** The classifier's score, higher = more spam. */
  score: number;
}

export interface Confusion {
  truePositives: number;
  falsePositives: number;
  trueNegatives: number;
  falseNegatives: number;
  accuracy: number;
  precision: number;
  /** Of the spam, how much was caught. */
  recall: number;
  /** Of the ham, how much was called spam. */
  fpr: number;
  f1: number;
}

/** The confusion counts and the rates derived from them, at `threshold`. */
export function confusion(judged: readonly Judged[], threshold: number): Confusion {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (const { spam, score } of judged) {
    const called = score > threshold;
    if (spam) called ? tp++ : fn++;
    else called ? fp++ : tn++;
  }
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  return {
    truePositives: tp,
    falsePositives: fp,
    trueNegatives: tn,
    falseNegatives: fn,
    accuracy: ratio(tp + tn, judged.length),
    precision,
    recall,
    fpr: ratio(fp, fp + tn),
    f1: ratio(2 * precision * recall, precision + recall),
  };
}

/** Area under the ROC curve: the chance that a random spam scores above a random ham (ties count half). */
export function auc(judged: readonly Judged[]): number {
  const sorted = [...judged].sort((a, b) => a.score - b.score);
  let rankSum = 0;
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j < sorted.length && sorted[j]!.score === sorted[i]!.score) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (sorted[k]!.spam) rankSum += rank;
    i = j;
  }
  const spam = judged.filter((s) => s.spam).length;
  const ham = judged.length - spam;
  if (spam === 0 || ham === 0) return Number.NaN;
  return (rankSum - (spam * (spam + 1)) / 2) / (spam * ham);
}

/** The lowest threshold at which at most `maxFpr` of these ham score above it. */
export function thresholdFor(judged: readonly Judged[], maxFpr = 0.001): number {
  const hamScores = judged.filter((s) => !s.spam).map((s) => s.score).sort((a, b) => b - a);
  const allowed = Math.floor(hamScores.length * maxFpr);
  return hamScores[allowed] ?? 0;
}

/** Recall at FPR ≤ `maxFpr`, the threshold chosen on these same scores (the optimistic figure). */
export function recallAtFpr(judged: readonly Judged[], maxFpr = 0.001): number {
  return confusion(judged, thresholdFor(judged, maxFpr)).recall;
}

/** Stratified folds: spam and ham each shuffled by `shuffle` and dealt in turn. */
export function stratifiedFolds<T extends { spam: boolean }>(items: readonly T[], folds: number, shuffle: (items: T[], spam: boolean) => T[]): T[][] {
  const out: T[][] = Array.from({ length: folds }, () => []);
  for (const spam of [false, true]) shuffle(items.filter((s) => s.spam === spam), spam).forEach((item, i) => out[i % folds]!.push(item));
  return out;
}
