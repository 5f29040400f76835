// Test helpers on the public store roles: a message delivered the way the MDA does it
// (write the reserved file, then commit), and the message files as the disk has them.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../../src/store/store.ts';

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
