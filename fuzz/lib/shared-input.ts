// The input a worker is running, shared with the campaign's main thread: when a
// worker stops making progress (a hang) or dies (out of memory), the main thread
// still knows which input did it. Layout: [0] inputs started, [1] byte length, then
// the bytes (inputs are cut to MAX_INPUT by fuzz/lib/inputs.ts).
export const MAX_INPUT = 64 * 1024;
const HEADER = 8;

export class SharedInput {
  readonly buffer: SharedArrayBuffer;
  readonly #ints: Int32Array;
  readonly #bytes: Uint8Array;

  constructor(buffer = new SharedArrayBuffer(HEADER + MAX_INPUT)) {
    this.buffer = buffer;
    this.#ints = new Int32Array(buffer, 0, 2);
    this.#bytes = new Uint8Array(buffer, HEADER);
  }

  /** Called by the worker before it runs `input`. */
  begin(input: Buffer): void {
    const length = Math.min(input.length, MAX_INPUT);
    this.#bytes.set(input.subarray(0, length));
    Atomics.store(this.#ints, 1, length);
    Atomics.add(this.#ints, 0, 1);
  }

  /** Inputs started so far: unchanged for a while means the current one hangs. */
  get started(): number {
    return Atomics.load(this.#ints, 0);
  }

  /** A copy of the input last begun. */
  current(): Buffer {
    return Buffer.from(this.#bytes.subarray(0, Atomics.load(this.#ints, 1)));
  }
}
