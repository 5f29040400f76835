// The spam model: two classifiers learned from the same messages, whose log-odds are
// combined —
//   the chi-square token counts (classifier.ts) over the words and fields (tokens.ts),
//   clamped to ±CHI_LIMIT (it says 0 or 1 outright more often than it should), and
//   a logistic regression (logistic.ts) over the byte 4-grams of the message (grams.ts),
// as  log-odds = (clamp(chi) + 2 · grams) / 3,  and P(spam) = 1 / (1 + e^−log-odds).
// They err on different messages: on the SpamAssassin corpus the counts alone reached
// AUC 0.99950 and 89.6 % recall at FPR ≤ 0.1 %, the 4-grams 0.99981 and 95.2 %, this
// combination 0.99984 and 95.8 % (README, Spam filter, for these and the ones not taken:
// a third part, a logistic regression over the tokens, and the mean of probabilities).
//
// Models come in layers: the instance's, and a user's on top (per-user learning). A
// user's counts add to the instance's; a user's weights are corrections on top of the
// instance's. Learning for a user changes only the user's layer.
import { classifyHashes, TokenCounts, type Classification } from './classifier.ts';
import { DenseWeights, logisticLearn, logisticLogOdds, SparseWeights, trainAll, type WeightColumns, type WeightLayer } from './logistic.ts';
import { clampedLogOdds } from './score.ts';
import { dayOf, TokenTable, type TokenColumns } from './token-table.ts';

/** What the model reads of a message: its tokens by tokenHash (tokens.ts) and its 4-grams (grams.ts), each once; ~4 octets a feature (training keeps many). */
export interface MessageFeatures {
  tokens: Uint32Array;
  grams: Uint32Array;
}

/** A message for training. */
export interface LabelledMessage extends MessageFeatures {
  spam: boolean;
}

/** The chi-square part's log-odds are clamped to ± this: 0.99966. */
export const CHI_LIMIT = 8;
/** The 4-gram part counts this many times the chi-square part. */
export const GRAMS_WEIGHT = 2;

export interface SpamScore {
  /** In [0, 1]: P(spam) of the combined log-odds. */
  score: number;
  /** The combined log-odds, (clamp(chi) + GRAMS_WEIGHT · grams) / (1 + GRAMS_WEIGHT). */
  logOdds: number;
  chiSquare: Classification;
  /** The 4-gram logistic regression's P(spam). */
  grams: number;
}

/** A model as the store keeps it. */
export interface SpamModelData {
  spamMessages: number;
  hamMessages: number;
  tokens: TokenColumns;
  grams: WeightColumns;
}

export class SpamModel {
  readonly counts: TokenCounts;
  readonly grams: WeightLayer;

  /** The instance's model (dense weights), or with `sparse` a user's layer. */
  constructor(options: { sparse?: boolean; counts?: TokenCounts; grams?: WeightLayer } = {}) {
    this.counts = options.counts ?? new TokenCounts();
    this.grams = options.grams ?? (options.sparse ? new SparseWeights() : new DenseWeights());
  }

  static fromData(data: SpamModelData, { sparse = false } = {}): SpamModel {
    const layer = (columns: WeightColumns) => (sparse ? SparseWeights.fromColumns(columns) : DenseWeights.fromColumns(columns));
    return new SpamModel({ counts: new TokenCounts(TokenTable.fromColumns(data.tokens), data), grams: layer(data.grams) });
  }

  toData(): SpamModelData {
    return {
      spamMessages: this.counts.spamMessages,
      hamMessages: this.counts.hamMessages,
      tokens: this.counts.table.columns(),
      grams: this.grams.columns(),
    };
  }

  get trained(): { spam: number; ham: number } {
    return { spam: this.counts.spamMessages, ham: this.counts.hamMessages };
  }

  /** Learns a batch (training): the counts once per message, the weights in shuffled passes; `below` are the layers under this one. */
  train(messages: readonly LabelledMessage[], seed = 1, below: readonly SpamModel[] = [], day = dayOf(Date.now())): void {
    for (const message of messages) this.counts.learnHashes(message.tokens, message.spam, 1, day);
    trainAll([...below.map((model) => model.grams), this.grams], messages.map((message) => ({ hashes: message.grams, spam: message.spam })), seed);
  }

  /** Learns one message (a correction, `spam learn`), by its error under `below` and this layer. */
  learn(features: MessageFeatures, spam: boolean, below: readonly SpamModel[] = [], day = dayOf(Date.now())): void {
    this.counts.learnHashes(features.tokens, spam, 1, day);
    logisticLearn([...below.map((model) => model.grams), this.grams], features.grams, spam);
  }

  /** Keeps at most `max` features (README, Spam filter: pruning); returns how many went. */
  prune(max: number): number {
    return this.counts.table.prune(max);
  }

  score(features: MessageFeatures, below: readonly SpamModel[] = []): SpamScore {
    return scoreLayers([...below, this], features);
  }
}

/** The score under several layers (the instance's, then a user's): counts add, weights add. */
export function scoreLayers(layers: readonly SpamModel[], features: MessageFeatures): SpamScore {
  const chiSquare = classifyHashes(features.tokens, layers.map((model) => model.counts));
  const grams = logisticLogOdds(layers.map((model) => model.grams), features.grams);
  const logOdds = (clampedLogOdds(chiSquare.score, CHI_LIMIT) + GRAMS_WEIGHT * grams) / (1 + GRAMS_WEIGHT);
  return { score: sigmoid(logOdds), logOdds, chiSquare, grams: sigmoid(grams) };
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Messages learned under the layers together. */
export function trainedTotals(layers: readonly SpamModel[]): { spam: number; ham: number } {
  return layers.reduce((n, model) => ({ spam: n.spam + model.counts.spamMessages, ham: n.ham + model.counts.hamMessages }), { spam: 0, ham: 0 });
}
