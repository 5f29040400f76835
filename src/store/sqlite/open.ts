// Opens the sqlite implementation of every store role in a data directory: one
// database (WAL) for metadata and messages up to 100 KB, and the blob directory for larger ones.
import { join } from 'node:path';
import { mkdirSync, statSync } from 'node:fs';
import { openDatabase } from './db.ts';
import { SqliteAccountStore } from './accounts.ts';
import { SqliteKeyStore } from './dkim-keys.ts';
import { SqliteMessageStore } from './messages.ts';
import { SqliteQueueStore } from './queue.ts';
import { SqliteGrantStore } from './grants.ts';
import { SqliteQuarantineStore } from './quarantine.ts';
import { SqliteSpamStore } from './spam.ts';
import { BlobStore } from '../blobs.ts';
import { MessageContents } from './contents.ts';
import type { Store } from '../store.ts';

export const DATABASE_FILE = 'kakitome.db';

export function openSqliteStore(
  dataDir: string,
  { create = false }: { create?: boolean },
  dataDirError: (message: string) => Error,
): Store {
  if (create) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let mode: number;
  try {
    mode = statSync(dataDir).mode;
  } catch (err) {
    throw dataDirError(`data directory ${dataDir} cannot be opened: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if ((mode & 0o077) !== 0) {
    throw dataDirError(
      `data directory ${dataDir} is open to group or others (mode ${(mode & 0o777).toString(8)}); run: chmod 700 ${dataDir}`,
    );
  }
  const db = openDatabase(join(dataDir, DATABASE_FILE));
  const blobs = BlobStore.open(dataDir);
  const contents = new MessageContents(db, blobs);
  const messages = new SqliteMessageStore(db, contents);
  return {
    accounts: new SqliteAccountStore(db, messages),
    mailboxes: messages,
    deliveries: messages,
    queue: new SqliteQueueStore(db, contents),
    keys: new SqliteKeyStore(db),
    grants: new SqliteGrantStore(db),
    quarantine: new SqliteQuarantineStore(db, contents),
    spam: new SqliteSpamStore(db),
    close: async () => {
      await messages.idle();
      db.close();
    },
  };
}
