// Lockout against password guessing (SPEC: per-IP and per-account failure limits with
// temporary lockout, on every protocol). One instance is shared by POP3 and SMTP AUTH.
// Account keys are the names clients send, known or not, so that a lockout never
// tells whether an account exists. State is in memory: a restart forgives.
import { plainAddress } from './networks.ts';

export interface LockoutLimits {
  maxFailuresPerIp: number;
  maxFailuresPerAccount: number;
  /** Lockout duration, and the window in which failures are counted (ms). */
  lockoutMs: number;
}

interface Counter {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

/** Entries kept at most per table; the oldest are dropped first (bounded memory under attack). */
const MAX_ENTRIES = 100_000;

export class AuthLockout {
  readonly #limits: LockoutLimits;
  readonly #byIp = new Map<string, Counter>();
  readonly #byAccount = new Map<string, Counter>();
  readonly #now: () => number;

  constructor(limits: LockoutLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Whether a login from this address for this account name must be refused now. */
  isLocked(ip: string, account: string): boolean {
    const now = this.#now();
    return this.#locked(this.#byIp, plainAddress(ip), now) || this.#locked(this.#byAccount, account, now);
  }

  recordFailure(ip: string, account: string): void {
    const now = this.#now();
    this.#count(this.#byIp, plainAddress(ip), this.#limits.maxFailuresPerIp, now);
    this.#count(this.#byAccount, account, this.#limits.maxFailuresPerAccount, now);
  }

  /** A successful login clears the account's failures (not the address's: an attacker's own account must not reset them). */
  recordSuccess(account: string): void {
    this.#byAccount.delete(account);
  }

  #locked(table: Map<string, Counter>, key: string, now: number): boolean {
    const counter = table.get(key);
    return counter !== undefined && counter.lockedUntil > now;
  }

  #count(table: Map<string, Counter>, key: string, max: number, now: number): void {
    let counter = table.get(key);
    if (!counter || (now - counter.windowStart > this.#limits.lockoutMs && counter.lockedUntil <= now)) {
      counter = { failures: 0, windowStart: now, lockedUntil: 0 };
    }
    table.delete(key); // re-inserted last: Map order is then oldest-first
    counter.failures++;
    if (counter.failures >= max) counter.lockedUntil = now + this.#limits.lockoutMs;
    table.set(key, counter);
    if (table.size > MAX_ENTRIES) table.delete(table.keys().next().value!);
  }
}
