// A mailbox as the store holds it, read straight from a running (or stopped)
// instance: the sqlite index opened read-only, and each message's content from the
// database (message_contents) or its file, through the store's own path rules
// (src/store/blobs.ts). Only for tests about storage itself
// (durability after kill -9: the index row and the file agree) and for folders no
// protocol shows yet (Junk, until IMAP); every other end-to-end test looks at a
// mailbox the way its user does, over POP3 (mailbox.ts).
import { DatabaseSync } from 'node:sqlite';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobStore } from '../../src/store/blobs.ts';
import type { Instance } from '../harness/instance.ts';
import { subjectOf } from './mailbox.ts';

export interface StoredFile {
  uid: number;
  size: number;
  /** The stored message as text (UTF-8): the received bytes with kakitome's Received: header on top. */
  content: string;
  /** The same, byte for byte. */
  bytes: Buffer;
}

interface MessageRow {
  uid: number;
  size: number;
  blob: string;
  /** The content when it is in the database (src/store/sqlite/contents.ts), else null: a file. */
  content: Uint8Array | null;
}

const dataDirOf = (instance: Instance) => join(instance.dir, 'data');

const blobStores = new Map<string, BlobStore>();
function blobStoreOf(dataDir: string): BlobStore {
  let store = blobStores.get(dataDir);
  if (!store) {
    store = BlobStore.open(dataDir);
    blobStores.set(dataDir, store);
  }
  return store;
}

function rowsOf(dataDir: string, address: string, mailbox: string): MessageRow[] {
  const file = join(dataDir, 'kakitome.db');
  if (!existsSync(file)) throw new Error(`no store at ${file}`);
  const db = new DatabaseSync(file, { readOnly: true, timeout: 5000 });
  try {
    const user = db.prepare('SELECT id FROM users WHERE address = ?').get(address.toLowerCase());
    if (!user) throw new Error(`no user ${address} in ${file}`);
    return db
      .prepare(
        `SELECT m.uid AS uid, m.size AS size, m.blob AS blob, c.content AS content
           FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id
           LEFT JOIN message_contents c ON c.name = m.blob
          WHERE b.user_id = ? AND b.name = ?
          ORDER BY m.uid`,
      )
      .all(user.id as number, mailbox) as unknown as MessageRow[];
  } finally {
    db.close();
  }
}

/** The messages in ADDRESS's INBOX (or another of its mailboxes), in UID order. */
export async function storedMessagesOf(instance: Instance, address: string, mailbox = 'INBOX'): Promise<StoredFile[]> {
  const dataDir = dataDirOf(instance);
  const rows = rowsOf(dataDir, address, mailbox);
  if (rows.length === 0) return [];
  const blobs = blobStoreOf(dataDir);
  return Promise.all(
    rows.map(async (row) => {
      const bytes = row.content ? Buffer.from(row.content) : await readFile(blobs.path(row.blob));
      return { uid: row.uid, size: row.size, bytes, content: bytes.toString('utf8') };
    }),
  );
}

/**
 * Polls ADDRESS's mailbox until `done(messages)` holds (delivery from the spool to the
 * mailbox may lag the 250 a little); returns the last messages read. Rejects after
 * timeoutMs with what was there.
 */
export async function waitForStoredMessages(
  instance: Instance,
  address: string,
  done: (messages: StoredFile[]) => boolean,
  { timeoutMs = 10_000, what = 'the expected messages', mailbox = 'INBOX' }: { timeoutMs?: number; what?: string; mailbox?: string } = {},
): Promise<StoredFile[]> {
  const deadline = Date.now() + timeoutMs;
  let last: StoredFile[] = [];
  let lastError: unknown;
  for (;;) {
    try {
      last = await storedMessagesOf(instance, address, mailbox);
      lastError = undefined;
      if (done(last)) return last;
    } catch (error) {
      lastError = error; // e.g. a busy database in the middle of a checkpoint: try again
    }
    if (Date.now() >= deadline) {
      const subjects = last.map((m) => `  uid ${m.uid}: ${subjectOf(m) ?? '(no subject)'}`).join('\n');
      throw new Error(
        `${address}'s mailbox did not show ${what} within ${timeoutMs} ms; it holds ${last.length} message(s)` +
          (subjects ? `:\n${subjects}` : '') +
          (lastError ? `\nlast error: ${String(lastError)}` : ''),
      );
    }
    await sleep(50);
  }
}
