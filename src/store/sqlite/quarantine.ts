// The quarantine store on sqlite (src/store/quarantine.ts is the contract). Rows are
// added by the delivery store (delivery-rows.ts) in the transactions that deliver or
// replace; this module lists, reads and deletes them. A deleted entry's content goes
// when nothing else references it, as for expunged mail (contents.ts).
import type { StatementSync } from 'node:sqlite';
import type { MessageContents } from './contents.ts';
import { commitDurably, type Db } from './db.ts';
import type { QuarantineReason, QuarantineRecipients, QuarantinedMessage, QuarantineStore } from '../quarantine.ts';
import type { QueueOrigin } from '../queue.ts';

interface Row {
  quarantine_id: string;
  blob: string;
  size: number;
  reason: QuarantineReason;
  detail: string;
  delivered: number;
  origin: QueueOrigin;
  mail_from: string;
  recipients: string;
  created_at: number;
}

const COLUMNS = 'quarantine_id, blob, size, reason, detail, delivered, origin, mail_from, recipients, created_at';

/** Entries deleted per transaction by expire(): a long-unexpired quarantine never holds the database for long. */
const EXPIRE_BATCH = 500;

export class SqliteQuarantineStore implements QuarantineStore {
  readonly #db: Db;
  readonly #contents: MessageContents;
  readonly #select: StatementSync;
  readonly #delete: StatementSync;
  readonly #oldest: StatementSync;

  constructor(db: Db, contents: MessageContents) {
    this.#db = db;
    this.#contents = contents;
    this.#select = db.prepare(`SELECT ${COLUMNS} FROM quarantine WHERE quarantine_id = ?`);
    this.#delete = db.prepare('DELETE FROM quarantine WHERE quarantine_id = ? RETURNING blob');
    this.#oldest = db.prepare('SELECT quarantine_id FROM quarantine WHERE created_at < ? ORDER BY created_at LIMIT ?');
  }

  async list(): Promise<QuarantinedMessage[]> {
    const rows = this.#db.prepare(`SELECT ${COLUMNS} FROM quarantine ORDER BY created_at, id`).all() as unknown as Row[];
    return rows.map(toEntry);
  }

  async get(quarantineId: string): Promise<QuarantinedMessage | undefined> {
    const row = this.#select.get(quarantineId) as Row | undefined;
    return row && toEntry(row);
  }

  readStart(entry: Pick<QuarantinedMessage, 'blob'>, maxBytes: number): Promise<Buffer> {
    return this.#contents.readStart(entry.blob, maxBytes);
  }

  read(entry: Pick<QuarantinedMessage, 'blob'>): Promise<Buffer> {
    return this.#contents.read(entry.blob);
  }

  async remove(quarantineId: string): Promise<boolean> {
    return (await this.#removeAll([quarantineId])) === 1;
  }

  async expire(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const ids = (this.#oldest.all(before, EXPIRE_BATCH) as { quarantine_id: string }[]).map((row) => row.quarantine_id);
      if (ids.length === 0) return total;
      total += await this.#removeAll(ids);
      if (ids.length < EXPIRE_BATCH) return total;
    }
  }

  async #removeAll(ids: readonly string[]): Promise<number> {
    const { removed, files } = await commitDurably(this.#db, () => {
      const blobs = ids.flatMap((id) => {
        const row = this.#delete.get(id) as { blob: string } | undefined;
        return row ? [row.blob] : [];
      });
      return { removed: blobs.length, files: this.#contents.unreferenced(blobs).files };
    });
    await this.#contents.removeFiles(files);
    return removed;
  }
}

function toEntry(row: Row): QuarantinedMessage {
  const recipients = JSON.parse(row.recipients) as QuarantineRecipients;
  return {
    quarantineId: row.quarantine_id,
    blob: row.blob,
    size: row.size,
    reason: row.reason,
    detail: row.detail,
    delivered: row.delivered === 1,
    origin: row.origin,
    mailFrom: row.mail_from,
    recipients: { users: recipients.users ?? [], remote: recipients.remote ?? [] },
    createdAt: row.created_at,
  };
}
