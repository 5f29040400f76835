// The spam model: the chi-square token counts (classifier.ts) and the logistic weights
// (logistic.ts), learned from the same messages; a message's score is the mean of the
// two. Either alone is a good classifier; they err on different messages, and their
// mean is better than either (README, Spam filter, for the figures). The logistic half
// alone is also poorly calibrated: at a 0.95 cut-off it flagged 0.27 % of ham; the mean
// flags 0.02 %.
//
// Models come in layers: the instance's, and a user's on top (per-user learning). A
// user's counts add to the instance's; a user's weights are corrections on top of the
// instance's. Learning for a user changes only the user's layer.
import { classifyHashes, TokenCounts, type Classification } from './classifier.ts';
import { DenseWeights, FEATURE_BITS, featureIndices, logisticLearn, logisticScore, SparseWeights, trainAll, type WeightColumns, type WeightLayer } from './logistic.ts';
import { dayOf, tokenHash, TokenTable, type TokenColumns } from './token-table.ts';

/** A message for training, as the hashes of its features. */
export interface HashedMessage {
  hashes: Uint32Array;
  spam: boolean;
}

const FEATURE_MASK = (1 << FEATURE_BITS) - 1;

export function featureHashes(features: Iterable<string>): Uint32Array {
  return Uint32Array.from(features, tokenHash);
}

export interface SpamScore {
  /** In [0, 1]: the mean of the two models. */
  score: number;
  chiSquare: Classification;
  logistic: number;
}

/** A model as the store keeps it. */
export interface SpamModelData {
  spamMessages: number;
  hamMessages: number;
  tokens: TokenColumns;
  weights: WeightColumns;
}

export class SpamModel {
  readonly counts: TokenCounts;
  readonly weights: WeightLayer;

  /** The instance's model (dense weights), or with `sparse` a user's layer. */
  constructor(options: { sparse?: boolean; counts?: TokenCounts; weights?: WeightLayer } = {}) {
    this.counts = options.counts ?? new TokenCounts();
    this.weights = options.weights ?? (options.sparse ? new SparseWeights() : new DenseWeights());
  }

  static fromData(data: SpamModelData, { sparse = false } = {}): SpamModel {
    return new SpamModel({
      counts: new TokenCounts(TokenTable.fromColumns(data.tokens), data),
      weights: sparse ? SparseWeights.fromColumns(data.weights) : DenseWeights.fromColumns(data.weights),
    });
  }

  toData(): SpamModelData {
    return { spamMessages: this.counts.spamMessages, hamMessages: this.counts.hamMessages, tokens: this.counts.table.columns(), weights: this.weights.columns() };
  }

  get trained(): { spam: number; ham: number } {
    return { spam: this.counts.spamMessages, ham: this.counts.hamMessages };
  }

  /** Learns a batch (training): the counts once per message, the weights in shuffled passes; `below` are the layers under this one. */
  train(messages: readonly { features: Set<string>; spam: boolean }[], seed = 1, below: readonly SpamModel[] = [], day = dayOf(Date.now())): void {
    this.trainHashed(messages.map((message) => ({ hashes: featureHashes(message.features), spam: message.spam })), seed, below, day);
  }

  /** train() of messages kept as their features' hashes (featureHashes): ~4 octets a feature instead of a string. */
  trainHashed(messages: readonly HashedMessage[], seed = 1, below: readonly SpamModel[] = [], day = dayOf(Date.now())): void {
    for (const message of messages) this.counts.learnHashes(message.hashes, message.spam, 1, day);
    const layers = [...below.map((model) => model.weights), this.weights];
    trainAll(layers, messages.map((message) => ({ indices: message.hashes.map((hash) => hash & FEATURE_MASK), spam: message.spam })), seed);
  }

  /** Learns one message (a correction, `spam learn`), by its error under `below` and this layer. */
  learn(features: Set<string>, spam: boolean, below: readonly SpamModel[] = [], day = dayOf(Date.now())): void {
    this.learnHashed(featureHashes(features), spam, below, day);
  }

  /** learn() of a message given as its features' hashes. */
  learnHashed(hashes: Uint32Array, spam: boolean, below: readonly SpamModel[] = [], day = dayOf(Date.now())): void {
    this.counts.learnHashes(hashes, spam, 1, day);
    logisticLearn([...below.map((model) => model.weights), this.weights], hashes.map((hash) => hash & FEATURE_MASK), spam);
  }

  /** Keeps at most `max` features (README, Spam filter: pruning); returns how many went. */
  prune(max: number): number {
    return this.counts.table.prune(max);
  }

  score(features: Set<string>, below: readonly SpamModel[] = []): SpamScore {
    return scoreLayers([...below, this], features);
  }
}

/** The score under several layers (the instance's, then a user's): counts add, weights add. */
export function scoreLayers(layers: readonly SpamModel[], features: Set<string>): SpamScore {
  return scoreHashed(layers, featureHashes(features));
}

/** scoreLayers() of features given by their hashes (featureHashes). */
export function scoreHashed(layers: readonly SpamModel[], hashes: Uint32Array): SpamScore {
  const chiSquare = classifyHashes(hashes, layers.map((model) => model.counts));
  const logistic = logisticScore(layers.map((model) => model.weights), hashes.map((hash) => hash & FEATURE_MASK));
  return { score: (chiSquare.score + logistic) / 2, chiSquare, logistic };
}

/** Messages learned under the layers together. */
export function trainedTotals(layers: readonly SpamModel[]): { spam: number; ham: number } {
  return layers.reduce((n, model) => ({ spam: n.spam + model.counts.spamMessages, ham: n.ham + model.counts.hamMessages }), { spam: 0, ham: 0 });
}
