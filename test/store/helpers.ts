// Shared setup for the sqlite store tests: a real data directory in the system temp
// dir, and users created with plain SQL (the account API is not used here on purpose).
// `messages` drives the sqlite message store through mailbox ids, as these tests
// were written: each call maps to the DeliveryStore/MailboxStore API one to one.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BlobStore } from '../../src/store/blobs.ts';
import { type Db, openDatabase } from '../../src/store/sqlite/db.ts';
import { SqliteMessageStore } from '../../src/store/sqlite/messages.ts';
import { MessageContents } from '../../src/store/sqlite/contents.ts';
import type { StoredMessage } from '../../src/store/mailboxes.ts';

export function makeTempDir(): string {
  return mkdtempSync(join(tmpdir(), 'kakitome-'));
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface DeliveredMessage {
  id: number;
  mailboxId: number;
  uid: number;
  uidl: string;
  size: number;
}

/** The sqlite message store addressed by mailbox id. */
export class MessagesByMailbox {
  readonly store: SqliteMessageStore;
  readonly #db: Db;

  constructor(db: Db, store: SqliteMessageStore) {
    this.#db = db;
    this.store = store;
  }

  ensureInbox(userId: number): number {
    return this.store.createMailbox(userId);
  }

  /** One file, one copy per mailbox; an unknown mailbox id stands for a user that does not exist. */
  async deliver(content: Buffer | AsyncIterable<Uint8Array>, mailboxIds: readonly number[]): Promise<DeliveredMessage[]> {
    const copies = mailboxIds.map((id) => {
      const row = this.#db.prepare('SELECT user_id, name FROM mailboxes WHERE id = ?').get(id) as { user_id: number; name: string } | undefined;
      return { userId: row?.user_id ?? id, folder: row?.name ?? 'INBOX', flags: [], keywords: [] };
    });
    const file = this.store.newMessageFile();
    try {
      const { size } = await this.store.writeMessageFile(file, content);
      const [delivered] = await this.store.commitDelivery([{ file, size, copies, queued: [] }]);
      return delivered!.map((copy) => ({ id: copy.id, mailboxId: copy.mailboxId, uid: copy.uid, uidl: copy.uidl, size }));
    } catch (err) {
      await this.store.abandonMessageFile(file, err);
      throw err;
    }
  }

  list(mailboxId: number): Promise<StoredMessage[]> {
    return this.store.listMessages(mailboxId);
  }

  get(id: number): Promise<StoredMessage | undefined> {
    return this.store.getMessage(id);
  }

  readContent(id: number): Promise<Buffer> {
    return this.store.readMessage(id);
  }

  openContent(id: number): Promise<Readable> {
    return this.store.openMessage(id);
  }

  expunge(mailboxId: number, ids: readonly number[]): Promise<void> {
    return this.store.expunge(mailboxId, ids);
  }

  removeMailboxesOfUser(userId: number): string[] {
    return this.store.removeMailboxesOfUser(userId);
  }

  removeBlobs(names: Iterable<string>): Promise<void> {
    return this.store.removeBlobs(names);
  }

  collectOrphanBlobs(options?: { minAgeMs?: number }): Promise<string[]> {
    return this.store.collectOrphans(options);
  }

  idle(): Promise<void> {
    return this.store.idle();
  }

  get commitStats() {
    return this.store.commitStats;
  }
}

export interface OpenedStore {
  db: Db;
  blobs: BlobStore;
  messages: MessagesByMailbox;
}

/** `inlineMaxBytes: 0` keeps every message in a file; by default small ones go into the database. */
export function openStore(dataDir: string, options: { maxBatchSize?: number; inlineMaxBytes?: number } = {}): OpenedStore {
  const db = openDatabase(join(dataDir, 'store.sqlite'));
  const blobs = BlobStore.open(dataDir);
  const contents = new MessageContents(db, blobs, { inlineMaxBytes: options.inlineMaxBytes });
  return { db, blobs, messages: new MessagesByMailbox(db, new SqliteMessageStore(db, contents, options)) };
}

/** Stored message contents: message files plus contents in the database. */
export async function countContents(store: Pick<OpenedStore, 'db' | 'blobs'>): Promise<number> {
  const rows = store.db.prepare('SELECT count(*) AS n FROM message_contents').get() as { n: number };
  return (await countBlobFiles(store.blobs)) + Number(rows.n);
}

/** Whether a message's content is stored, as a file or in the database. */
export function contentExists(store: Pick<OpenedStore, 'db' | 'blobs'>, name: string): boolean {
  return existsSync(store.blobs.path(name)) || store.db.prepare('SELECT 1 FROM message_contents WHERE name = ?').get(name) !== undefined;
}

/** Inserts the user (and its domain if missing) directly; returns the user id. */
export function createUser(db: Db, address: string): number {
  const domain = address.slice(address.indexOf('@') + 1);
  const now = Date.now();
  db.prepare('INSERT OR IGNORE INTO domains (name, created_at) VALUES (?, ?)').run(domain, now);
  const result = db
    .prepare('INSERT INTO users (address, domain, password_hash, created_at) VALUES (?, ?, ?, ?)')
    .run(address, domain, 'not-a-real-hash', now);
  return Number(result.lastInsertRowid);
}

/** A CRLF message whose bytes and length are a pure function of index. */
export function deterministicMessage(index: number): Buffer {
  const lines = [`Subject: message ${index}`, `Message-ID: <${index}@example.test>`, ''];
  for (let line = 0; line < (index % 37) + 1; line++) lines.push(`line ${line} of message ${index}`);
  return Buffer.from(lines.join('\r\n') + '\r\n');
}

export async function countBlobFiles(blobs: BlobStore): Promise<number> {
  let count = 0;
  for await (const _entry of blobs.entries()) count++;
  return count;
}
