// Per-user submission rate (SPEC: against stolen accounts): at most `perHour` messages
// in any sliding hour. In memory: a restart forgives.
const HOUR_MS = 3_600_000;

export class SendRateLimiter {
  readonly #perHour: number;
  readonly #sent = new Map<number, number[]>();
  readonly #now: () => number;

  /** perHour 0 means no limit. */
  constructor(perHour: number, now: () => number = Date.now) {
    this.#perHour = perHour;
    this.#now = now;
  }

  allows(userId: number): boolean {
    if (this.#perHour === 0) return true;
    return this.#recent(userId).length < this.#perHour;
  }

  record(userId: number): void {
    if (this.#perHour === 0) return;
    const recent = this.#recent(userId);
    recent.push(this.#now());
    this.#sent.set(userId, recent);
  }

  #recent(userId: number): number[] {
    const cutoff = this.#now() - HOUR_MS;
    const recent = (this.#sent.get(userId) ?? []).filter((at) => at > cutoff);
    if (recent.length === 0) this.#sent.delete(userId);
    else this.#sent.set(userId, recent);
    return recent;
  }
}
