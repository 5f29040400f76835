// The second part of the spam model: logistic regression over hashed features (the
// message's 4-grams, grams.ts), as the best filters of the TREC spam track did (Goodman
// and Yih 2006; Sculley's online logistic regression). Each feature is a 32-bit hash,
// folded here to one of 2^FEATURE_BITS weights (its low bits); a message's log-odds is the sum of its features' weights over
// √(n + 1), and each learned message moves those weights by RATE · error / √(n + 1).
// Trained in several shuffled passes (`trainAll`); afterwards a learned message is one step.
//
// Weights come in layers: the instance's dense array, and on top of it a user's sparse
// corrections (only the weights that user's learning moved). A user's score sums both;
// a user's learning moves only the user's layer, by the error of the sum.
//
// Why both this and the chi-square counts: model.ts.

import { seededRandom, shuffleInPlace } from './seeded.ts';
import { tokenHash } from './token-table.ts';

/** 2^20 weights: 4 MiB as 32-bit floats. 2^18 lost 0.4 points of recall, 2^22 gained nothing. */
export const FEATURE_BITS = 20;
export const RATE = 20;
export const TRAINING_PASSES = 20;

const SIZE = 1 << FEATURE_BITS;
const MASK = SIZE - 1;

/** A feature's weight index: its tokenHash folded to FEATURE_BITS. */
export function featureIndex(feature: string): number {
  return tokenHash(feature) & MASK;
}

/** The non-zero weights, as stored: parallel arrays. */
export interface WeightColumns {
  indices: Uint32Array;
  values: Float32Array;
}

export interface WeightLayer {
  weight(index: number): number;
  add(index: number, step: number): void;
  columns(): WeightColumns;
}

/** The instance's weights: every index, 4 MiB. */
export class DenseWeights implements WeightLayer {
  readonly values: Float32Array;

  constructor(values: Float32Array = new Float32Array(SIZE)) {
    if (values.length !== SIZE) throw new RangeError(`a logistic model has ${SIZE} weights, not ${values.length}`);
    this.values = values;
  }

  static fromColumns(columns: WeightColumns): DenseWeights {
    const weights = new DenseWeights();
    columns.indices.forEach((index, i) => (weights.values[index & MASK] = columns.values[i]!));
    return weights;
  }

  weight(index: number): number {
    return this.values[index]!;
  }

  add(index: number, step: number): void {
    this.values[index]! += step;
  }

  columns(): WeightColumns {
    const indices: number[] = [];
    for (let i = 0; i < SIZE; i++) if (this.values[i] !== 0) indices.push(i);
    return { indices: Uint32Array.from(indices), values: Float32Array.from(indices, (i) => this.values[i]!) };
  }
}

/** A user's corrections: only the weights their learning moved. */
export class SparseWeights implements WeightLayer {
  readonly #values = new Map<number, number>();

  static fromColumns(columns: WeightColumns): SparseWeights {
    const weights = new SparseWeights();
    columns.indices.forEach((index, i) => weights.#values.set(index & MASK, columns.values[i]!));
    return weights;
  }

  get size(): number {
    return this.#values.size;
  }

  weight(index: number): number {
    return this.#values.get(index) ?? 0;
  }

  add(index: number, step: number): void {
    // Rounded as the dense array and the store round: a saved layer scores as it did.
    this.#values.set(index, Math.fround((this.#values.get(index) ?? 0) + step));
  }

  columns(): WeightColumns {
    const indices = Uint32Array.from([...this.#values.keys()].sort((a, b) => a - b));
    return { indices, values: Float32Array.from(indices, (i) => this.#values.get(i)!) };
  }
}

/** The log-odds of spam under the sum of the layers: the features' weights over √(n + 1). */
export function logisticLogOdds(layers: readonly WeightLayer[], hashes: Uint32Array): number {
  let z = 0;
  for (const layer of layers) for (const hash of hashes) z += layer.weight(hash & MASK);
  return z / Math.sqrt(hashes.length + 1);
}

/** P(spam) in (0, 1) under the sum of the layers. */
export function logisticScore(layers: readonly WeightLayer[], hashes: Uint32Array): number {
  return 1 / (1 + Math.exp(-logisticLogOdds(layers, hashes)));
}

/** One online step towards the message's label, scored under `layers`, moving only the last layer. */
export function logisticLearn(layers: readonly WeightLayer[], hashes: Uint32Array, spam: boolean, rate = RATE): void {
  const error = (spam ? 1 : 0) - logisticScore(layers, hashes);
  const step = (rate * error) / Math.sqrt(hashes.length + 1);
  const target = layers.at(-1)!;
  for (const hash of hashes) target.add(hash & MASK, step);
}

/** Trains on labelled messages (their features' hashes) in TRAINING_PASSES passes, each in an order shuffled by `seed`; only the last layer moves. */
export function trainAll(layers: readonly WeightLayer[], messages: readonly { hashes: Uint32Array; spam: boolean }[], seed = 1, passes = TRAINING_PASSES): void {
  const order = messages.map((_, i) => i);
  const random = seededRandom(seed);
  for (let pass = 0; pass < passes; pass++) {
    shuffleInPlace(order, random);
    for (const i of order) logisticLearn(layers, messages[i]!.hashes, messages[i]!.spam);
  }
}
