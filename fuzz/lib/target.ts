// A fuzz target: one parser or state machine that reads untrusted input, the inputs
// to try on it, and what counts as a defect. Every input is bytes (what arrives on a
// socket or in a message), so a failing input can be saved as a file and replayed.
import type { Arbitrary } from 'fast-check';

export interface FuzzTarget {
  /** Directory name under fuzz/corpus and fuzz/crashes. */
  name: string;
  /** What untrusted input it reads (shown by `npm run fuzz -- --list`). */
  about: string;
  /** The seed inputs (fuzz/corpus/<name>/, or built from a public test suite); test/fuzz replays them. */
  seeds: readonly Buffer[];
  /** The inputs: seed mutations, grammar-built commands and raw bytes (fuzz/lib/inputs.ts). */
  inputs: Arbitrary<Buffer>;
  /**
   * Runs one input. Throws (or rejects) only on a defect: an exception the code does
   * not promise, a broken invariant, or a server that no longer answers. A refusal
   * the code promises (an error reply, `undefined`, a documented error class) returns.
   */
  check(input: Buffer): void | Promise<void>;
  /** For session targets: start the server before the first input, stop it after the last. */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

/** A defect found by a check (as opposed to an exception the code under test threw). */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}
