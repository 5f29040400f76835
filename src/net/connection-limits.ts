// Simultaneous-session limits, total and per client address (SPEC: bounded connection
// sizes against resource exhaustion). Each listener role gets its own limiter
// (src/app/server.ts), so a flood on one port never takes another port's slots.
import { plainAddress } from '../mail/ip.ts';

export class ConnectionLimiter {
  readonly #maxTotal: number;
  readonly #maxPerAddress: number;
  readonly #perAddress = new Map<string, number>();
  #total = 0;

  constructor(maxTotal: number, maxPerAddress: number) {
    this.#maxTotal = maxTotal;
    this.#maxPerAddress = maxPerAddress;
  }

  /** Takes a slot; returns the function that gives it back, or undefined when full. */
  acquire(address: string): (() => void) | undefined {
    const key = plainAddress(address);
    const current = this.#perAddress.get(key) ?? 0;
    if (this.#total >= this.#maxTotal || current >= this.#maxPerAddress) return undefined;
    this.#total++;
    this.#perAddress.set(key, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const left = (this.#perAddress.get(key) ?? 1) - 1;
      if (left === 0) this.#perAddress.delete(key);
      else this.#perAddress.set(key, left);
    };
  }

  get total(): number {
    return this.#total;
  }
}
