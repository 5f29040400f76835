// The spam model: three classifiers learned from the same messages, and a message's
// score is their mean —
//   the chi-square token counts (classifier.ts) over the words and fields (tokens.ts),
//   a logistic regression (logistic.ts) over the same tokens, and
//   a logistic regression over the byte 4-grams of the message's start (grams.ts).
// Each alone is a good classifier; they err on different messages, and their mean is
// better than any one or two of them (README, Spam filter, for the figures). The
// logistic parts alone are also poorly calibrated: at a 0.95 cut-off the token one
// flagged 0.27 % of ham; the mean flags 0.02 %.
//
// Models come in layers: the instance's, and a user's on top (per-user learning). A
// user's counts add to the instance's; a user's weights are corrections on top of the
// instance's. Learning for a user changes only the user's layer.
import { classifyHashes, TokenCounts, type Classification } from './classifier.ts';
import { DenseWeights, FEATURE_BITS, logisticLearn, logisticScore, SparseWeights, trainAll, type WeightColumns, type WeightLayer } from './logistic.ts';
import { dayOf, tokenHash, TokenTable, type TokenColumns } from './token-table.ts';

/** What the model reads of a message: its tokens by tokenHash (tokens.ts) and its 4-grams (grams.ts), each once. */
export interface MessageFeatures {
  tokens: Uint32Array;
  grams: Uint32Array;
}

/** A message's features as hashes: ~4 octets a feature instead of a string (training keeps many). */
export interface HashedFeatures {
  hashes: Uint32Array;
  grams: Uint32Array;
}

/** A message for training. */
export interface HashedMessage extends HashedFeatures {
  spam: boolean;
}

export function hashedFeatures(features: MessageFeatures): HashedFeatures {
  return { hashes: features.tokens, grams: features.grams };
}

const FEATURE_MASK = (1 << FEATURE_BITS) - 1;

export function featureHashes(features: Iterable<string>): Uint32Array {
  return Uint32Array.from(features, tokenHash);
}

export interface SpamScore {
  /** In [0, 1]: the mean of the three. */
  score: number;
  chiSquare: Classification;
  /** The token logistic regression's P(spam). */
  logistic: number;
  /** The 4-gram logistic regression's P(spam). */
  grams: number;
}

/** A model as the store keeps it. */
export interface SpamModelData {
  spamMessages: number;
  hamMessages: number;
  tokens: TokenColumns;
  weights: WeightColumns;
  grams: WeightColumns;
}

export class SpamModel {
  readonly counts: TokenCounts;
  readonly weights: WeightLayer;
  readonly grams: WeightLayer;

  /** The instance's model (dense weights), or with `sparse` a user's layer. */
  constructor(options: { sparse?: boolean; counts?: TokenCounts; weights?: WeightLayer; grams?: WeightLayer } = {}) {
    const layer = () => (options.sparse ? new SparseWeights() : new DenseWeights());
    this.counts = options.counts ?? new TokenCounts();
    this.weights = options.weights ?? layer();
    this.grams = options.grams ?? layer();
  }

  static fromData(data: SpamModelData, { sparse = false } = {}): SpamModel {
    const layer = (columns: WeightColumns) => (sparse ? SparseWeights.fromColumns(columns) : DenseWeights.fromColumns(columns));
    return new SpamModel({ counts: new TokenCounts(TokenTable.fromColumns(data.tokens), data), weights: layer(data.weights), grams: layer(data.grams) });
  }

  toData(): SpamModelData {
    return {
      spamMessages: this.counts.spamMessages,
      hamMessages: this.counts.hamMessages,
      tokens: this.counts.table.columns(),
      weights: this.weights.columns(),
      grams: this.grams.columns(),
    };
  }

  get trained(): { spam: number; ham: number } {
    return { spam: this.counts.spamMessages, ham: this.counts.hamMessages };
  }

  /** Learns a batch (training): the counts once per message, the weights in shuffled passes; `below` are the layers under this one. */
  train(messages: readonly { features: MessageFeatures; spam: boolean }[], seed = 1, below: readonly SpamModel[] = [], day = dayOf(Date.now())): void {
    this.trainHashed(messages.map((message) => ({ ...hashedFeatures(message.features), spam: message.spam })), seed, below, day);
  }

  /** train() of messages kept as hashes. */
  trainHashed(messages: readonly HashedMessage[], seed = 1, below: readonly SpamModel[] = [], day = dayOf(Date.now())): void {
    for (const message of messages) this.counts.learnHashes(message.hashes, message.spam, 1, day);
    trainAll([...below.map((model) => model.weights), this.weights], messages.map((message) => ({ indices: folded(message.hashes), spam: message.spam })), seed);
    trainAll([...below.map((model) => model.grams), this.grams], messages.map((message) => ({ indices: folded(message.grams), spam: message.spam })), seed);
  }

  /** Learns one message (a correction, `spam learn`), by its error under `below` and this layer. */
  learn(features: MessageFeatures, spam: boolean, below: readonly SpamModel[] = [], day = dayOf(Date.now())): void {
    this.learnHashed({ ...hashedFeatures(features), spam }, below, day);
  }

  /** learn() of a message kept as hashes. */
  learnHashed(message: HashedMessage, below: readonly SpamModel[] = [], day = dayOf(Date.now())): void {
    this.counts.learnHashes(message.hashes, message.spam, 1, day);
    logisticLearn([...below.map((model) => model.weights), this.weights], folded(message.hashes), message.spam);
    logisticLearn([...below.map((model) => model.grams), this.grams], folded(message.grams), message.spam);
  }

  /** Keeps at most `max` features (README, Spam filter: pruning); returns how many went. */
  prune(max: number): number {
    return this.counts.table.prune(max);
  }

  score(features: MessageFeatures, below: readonly SpamModel[] = []): SpamScore {
    return scoreLayers([...below, this], features);
  }
}

/** Hashes folded to weight indices. */
function folded(hashes: Uint32Array): Uint32Array {
  const out = new Uint32Array(hashes.length);
  for (let i = 0; i < hashes.length; i++) out[i] = hashes[i]! & FEATURE_MASK;
  return out;
}

/** The score under several layers (the instance's, then a user's): counts add, weights add. */
export function scoreLayers(layers: readonly SpamModel[], features: MessageFeatures): SpamScore {
  return scoreHashed(layers, hashedFeatures(features));
}

/** scoreLayers() of features kept as hashes. */
export function scoreHashed(layers: readonly SpamModel[], features: HashedFeatures): SpamScore {
  const chiSquare = classifyHashes(features.hashes, layers.map((model) => model.counts));
  const logistic = logisticScore(layers.map((model) => model.weights), folded(features.hashes));
  const grams = logisticScore(layers.map((model) => model.grams), folded(features.grams));
  return { score: (chiSquare.score + logistic + grams) / 3, chiSquare, logistic, grams };
}

/** Messages learned under the layers together. */
export function trainedTotals(layers: readonly SpamModel[]): { spam: number; ham: number } {
  return layers.reduce((n, model) => ({ spam: n.spam + model.counts.spamMessages, ham: n.ham + model.counts.hamMessages }), { spam: 0, ham: 0 });
}
