// The inputs a target is fed, built with fast-check so that a failing input shrinks to a
// small one: mutations of the target's seed corpus (fuzz/corpus/<target>/, each file one
// input), sequences of the target's dictionary tokens (the grammar's keywords and the
// separators parsers trip on), and raw bytes. Mutations are the classic ones of AFL and
// libFuzzer: bit flips, interesting bytes, token insertion, deletion, duplication (for
// length bounds) and splicing of two seeds.
import fc, { type Arbitrary } from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CORPUS_DIR = fileURLToPath(new URL('../corpus/', import.meta.url));

/** Bytes that delimit or terminate something in mail protocols, and integer edges. */
const INTERESTING_BYTES = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x2e, 0x3a, 0x3c, 0x3e, 0x40, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xc0, 0xff];

/** The seed inputs of a target: every file in fuzz/corpus/<name>/. */
export function readCorpus(name: string): Buffer[] {
  const dir = join(CORPUS_DIR, name);
  const files = readdirSync(dir).filter((file) => !file.startsWith('.')).sort();
  if (files.length === 0) throw new Error(`fuzz corpus ${dir} is empty`);
  return files.map((file) => readFileSync(join(dir, file)));
}

type Mutation = (input: Buffer, others: readonly Buffer[]) => Buffer;

const at = (input: Buffer, fraction: number) => Math.floor(fraction * (input.length + 1));

function mutation(tokens: readonly Buffer[]): Arbitrary<Mutation> {
  const where = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
  return fc.oneof(
    fc.tuple(where, fc.integer({ min: 0, max: 7 })).map(([p, bit]): Mutation => (input) => {
      if (input.length === 0) return input;
      const copy = Buffer.from(input);
      const i = Math.min(at(input, p), input.length - 1);
      copy[i] = copy[i]! ^ (1 << bit);
      return copy;
    }),
    fc.tuple(where, fc.constantFrom(...INTERESTING_BYTES)).map(([p, byte]): Mutation => (input) => {
      const i = at(input, p);
      return Buffer.concat([input.subarray(0, i), Buffer.of(byte), input.subarray(i)]);
    }),
    fc.tuple(where, fc.constantFrom(...tokens)).map(([p, token]): Mutation => (input) => {
      const i = at(input, p);
      return Buffer.concat([input.subarray(0, i), token, input.subarray(i)]);
    }),
    fc.tuple(where, fc.integer({ min: 1, max: 64 })).map(([p, length]): Mutation => (input) => {
      const i = at(input, p);
      return Buffer.concat([input.subarray(0, i), input.subarray(i + length)]);
    }),
    // Repeats a slice up to 300 times: long lines, many fields, deep nesting.
    fc.tuple(where, fc.integer({ min: 1, max: 32 }), fc.integer({ min: 2, max: 300 })).map(([p, length, times]): Mutation => (input) => {
      const i = at(input, p);
      const slice = input.subarray(i, i + length);
      return Buffer.concat([input.subarray(0, i), ...Array<Buffer>(times).fill(slice), input.subarray(i + length)]);
    }),
    fc.tuple(where, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([p, bytes]): Mutation => (input) => {
      const i = at(input, p);
      return Buffer.concat([input.subarray(0, i), Buffer.from(bytes), input.subarray(i + bytes.length)]);
    }),
    fc.tuple(where, where, fc.nat()).map(([p, q, pick]): Mutation => (input, others) => {
      const other = others[pick % others.length]!;
      return Buffer.concat([input.subarray(0, at(input, p)), other.subarray(at(other, q))]);
    }),
  );
}

export interface InputOptions {
  seeds: readonly Buffer[];
  /** Keywords and separators of the input's grammar. */
  dictionary: readonly string[];
  /** Inputs are cut to this many bytes (default 64 KiB). */
  maxLength?: number;
}

/** Mutated seeds (most inputs), token sequences, and raw bytes. */
export function fuzzInputs(options: InputOptions): Arbitrary<Buffer> {
  const { seeds } = options;
  const maxLength = options.maxLength ?? 64 * 1024;
  const tokens = options.dictionary.map((token) => Buffer.from(token, 'utf8'));
  const mutated = fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(mutation(tokens), { minLength: 1, maxLength: 8 }))
    .map(([pick, steps]) => steps.reduce((input, step) => step(input, seeds), seeds[pick]!));
  const tokenSequence = fc
    .array(fc.oneof(fc.constantFrom(...tokens), fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b))), { maxLength: 40 })
    .map((parts) => Buffer.concat(parts));
  const raw = fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes));
  return fc
    .oneof({ weight: 6, arbitrary: mutated }, { weight: 3, arbitrary: tokenSequence }, { weight: 1, arbitrary: raw })
    .map((input) => (input.length > maxLength ? input.subarray(0, maxLength) : input));
}

/** The common case: seeds from fuzz/corpus/<name>/, and the inputs made of them. */
export function corpusInputs(name: string, dictionary: readonly string[], maxLength?: number): { seeds: Buffer[]; inputs: Arbitrary<Buffer> } {
  const seeds = readCorpus(name);
  return { seeds, inputs: fuzzInputs({ seeds, dictionary, ...(maxLength === undefined ? {} : { maxLength }) }) };
}
