// A POP3 maildrop (RFC 1939 §5): the INBOX as it was at login, numbered 1..n, with
// messages marked for deletion. Nothing is removed until QUIT in the TRANSACTION
// state; a dropped connection removes nothing. One session at a time per mailbox.
import type { MailboxStore, StoredMessage } from '../../store/mailboxes.ts';
import { INBOX } from '../../store/mailboxes.ts';
import type { RetrievalScan } from '../retrieval-scan.ts';

/** Exclusive maildrop locks across all POP3 sessions of this server, one per user. */
export class MaildropLocks {
  readonly #held = new Set<number>();

  /** Takes the user's maildrop lock; returns its release, or undefined when another session holds it. */
  acquire(userId: number): (() => void) | undefined {
    if (this.#held.has(userId)) return undefined;
    this.#held.add(userId);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held.delete(userId);
    };
  }
}

/** How many upcoming messages may be read ahead while earlier ones are being sent. */
const READ_AHEAD = 8;

export class Maildrop {
  /** Undefined while nothing was ever delivered to the user: an empty maildrop. */
  readonly mailboxId: number | undefined;
  readonly #store: MailboxStore;
  readonly #messages: StoredMessage[];
  readonly #deleted = new Set<number>();
  readonly #reads = new Map<number, Promise<Buffer>>();
  readonly #userId: number;
  readonly #rescan: RetrievalScan | undefined;

  private constructor(store: MailboxStore, userId: number, mailboxId: number | undefined, messages: StoredMessage[], rescan: RetrievalScan | undefined) {
    this.#store = store;
    this.#userId = userId;
    this.mailboxId = mailboxId;
    this.#messages = messages;
    this.#rescan = rescan;
  }

  /**
   * The user's INBOX as it is now (POP3 reads nothing else; it creates nothing). With
   * `rescan`, every message is rescanned before it is sent (src/mra/retrieval-scan.ts).
   */
  static async open(store: MailboxStore, userId: number, rescan?: RetrievalScan): Promise<Maildrop> {
    const mailboxId = await store.findMailbox(userId, INBOX);
    return new Maildrop(store, userId, mailboxId, mailboxId === undefined ? [] : await store.listMessages(mailboxId), rescan);
  }

  /** The message numbered n (1-based) unless out of range; `deleted` tells if it is marked. */
  message(n: number): { message: StoredMessage; deleted: boolean } | undefined {
    const message = Number.isSafeInteger(n) && n >= 1 ? this.#messages[n - 1] : undefined;
    return message && { message, deleted: this.#deleted.has(n) };
  }

  /** Numbers and messages not marked for deletion, in order. */
  *live(): Generator<[number, StoredMessage]> {
    for (let i = 0; i < this.#messages.length; i++) if (!this.#deleted.has(i + 1)) yield [i + 1, this.#messages[i]!];
  }

  stat(): { count: number; octets: number } {
    let count = 0;
    let octets = 0;
    for (const [, message] of this.live()) {
      count++;
      octets += message.size;
    }
    return { count, octets };
  }

  markDeleted(n: number): void {
    this.#deleted.add(n);
    this.#reads.delete(n);
  }

  unmarkAll(): void {
    this.#deleted.clear();
  }

  get deletedCount(): number {
    return this.#deleted.size;
  }

  /**
   * The stored bytes of message n, which the caller has checked is live; `upcoming` are
   * numbers likely asked for next (pipelined RETRs), read ahead. A number in `upcoming`
   * that is out of range or marked deleted is skipped: its RETR gets its own -ERR.
   */
  content(n: number, upcoming: readonly number[] = []): Promise<Buffer> {
    for (const next of upcoming.slice(0, READ_AHEAD)) if (next !== n && this.#isLive(next)) this.#read(next);
    const read = this.#read(n);
    this.#reads.delete(n);
    return read;
  }

  #isLive(n: number): boolean {
    const entry = this.message(n);
    return entry !== undefined && !entry.deleted;
  }

  #read(n: number): Promise<Buffer> {
    let read = this.#reads.get(n);
    if (!read) {
      const entry = this.message(n);
      if (!entry) throw new RangeError(`no message ${n}`); // the session checks the number first
      read = this.#store.readListedMessage(entry.message);
      const rescan = this.#rescan;
      if (rescan) {
        read = read.then(async (stored) => {
          const { content, replaced } = await rescan.content(this.#userId, entry.message, stored);
          // A notice took the message's place: LIST and STAT give its size from now on.
          if (replaced) this.#messages[n - 1] = { ...entry.message, size: content.length };
          return content;
        });
      }
      read.catch(() => {}); // a read ahead that is never asked for must not go unhandled
      this.#reads.set(n, read);
    }
    return read;
  }

  /** UPDATE state (RFC 1939 §6): removes the marked messages durably. */
  async expunge(): Promise<number> {
    const ids = [...this.#deleted].map((n) => this.#messages[n - 1]!.id);
    if (ids.length > 0 && this.mailboxId !== undefined) await this.#store.expunge(this.mailboxId, ids);
    return ids.length;
  }
}
