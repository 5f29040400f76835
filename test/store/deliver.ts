// Test helpers on the public store roles: a message delivered the way the MDA does it
// (write the reserved file, then commit), and the message contents as the data
// directory has them (files, and small messages in the database).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Store } from '../../src/store/store.ts';
import { DATABASE_FILE } from '../../src/store/sqlite/open.ts';

/** Delivers content into each user's INBOX through the delivery store; resolves when durable. */
export async function deliverToUsers(store: Pick<Store, 'deliveries'>, content: Buffer, userIds: readonly number[]): Promise<void> {
  const file = store.deliveries.newMessageFile();
  const { size } = await store.deliveries.writeMessageFile(file, content);
  await store.deliveries.commitDelivery([
    { file, size, copies: userIds.map((userId) => ({ userId, folder: 'INBOX', flags: [], keywords: [] })), queued: [] },
  ]);
}

/** Names of the message files in a data directory (blobs/<shard>/<name>). */
export function messageFiles(dataDir: string): string[] {
  const root = join(dataDir, 'blobs');
  return readdirSync(root).flatMap((shard) => readdirSync(join(root, shard)));
}

/** Names of the message contents in the data directory's database (src/store/sqlite/contents.ts). */
function databaseContents(dataDir: string): string[] {
  const db = new DatabaseSync(join(dataDir, DATABASE_FILE), { readOnly: true, timeout: 5000 });
  try {
    return (db.prepare('SELECT name FROM message_contents ORDER BY name').all() as { name: string }[]).map((row) => row.name);
  } finally {
    db.close();
  }
}

/** Names of every stored message content: the message files and the contents in the database. */
export function storedContents(dataDir: string): string[] {
  return [...messageFiles(dataDir), ...databaseContents(dataDir)];
}
