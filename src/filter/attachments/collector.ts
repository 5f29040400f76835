// Where a body (or an archive entry) goes while it is read: its first SNIFF_LENGTH
// octets are kept to recognise an archive by its magic octets; the whole of it is
// spooled only when it must be inspected (the caller said so, or the magic says archive).
import { sniffArchive, SNIFF_LENGTH } from './archive-kind.ts';
import { Spool, type SpoolLimits } from './spool.ts';

/** Sniffs the first octets of a decoded body and, when it must be kept, spools it. */
export class BodyCollector {
  head = Buffer.alloc(0);
  spool: Spool | undefined;
  size = 0;
  #decided = false;
  readonly #keep: boolean;
  readonly #limits: SpoolLimits;

  constructor(keep: boolean, limits: SpoolLimits) {
    this.#keep = keep;
    this.#limits = limits;
  }

  /** False once the body needs no more octets. */
  get wanted(): boolean {
    return !this.#decided || this.spool !== undefined;
  }

  write(octets: Buffer): void {
    if (octets.length === 0) return;
    this.size += octets.length;
    if (this.spool) {
      this.spool.write(octets);
      return;
    }
    if (this.#decided) return;
    const room = SNIFF_LENGTH - this.head.length;
    this.head = Buffer.concat([this.head, octets.subarray(0, room)]);
    if (this.head.length >= SNIFF_LENGTH) this.#decide(octets.subarray(room));
  }

  /** Called at the end of the body. */
  end(): void {
    if (!this.#decided) this.#decide(Buffer.alloc(0));
  }

  #decide(rest: Buffer): void {
    this.#decided = true;
    if (!this.#keep && sniffArchive(this.head) === undefined) return;
    this.spool = new Spool(this.#limits);
    this.spool.write(this.head);
    if (rest.length > 0) this.spool.write(rest);
  }
}
