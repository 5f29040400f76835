// The embedded store: one sqlite database (metadata) and the blob directory
// (message files), both inside the data directory.
import { join } from 'node:path';
import { mkdirSync, statSync } from 'node:fs';
import { openDatabase, type Db } from './sqlite/db.ts';
import { AccountStore } from './sqlite/accounts.ts';
import { DkimKeyStore } from './sqlite/dkim-keys.ts';
import { MessageStore } from './sqlite/messages.ts';
import { BlobStore } from './blobs.ts';

export const DATABASE_FILE = 'kakitome.db';

export class DataDirError extends Error {}

export interface Store {
  db: Db;
  accounts: AccountStore;
  dkim: DkimKeyStore;
  blobs: BlobStore;
  messages: MessageStore;
  /** Waits for deliveries in flight, then closes the database. */
  close(): Promise<void>;
}

/**
 * Opens the store in dataDir. With create, makes the directory (mode 0700);
 * otherwise it must exist. Refuses a directory that group or others can enter:
 * it holds mail, password hashes and private keys.
 */
export function openStore(dataDir: string, { create = false } = {}): Store {
  if (create) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let mode: number;
  try {
    mode = statSync(dataDir).mode;
  } catch (err) {
    throw new DataDirError(`data directory ${dataDir} cannot be opened: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new DataDirError(
      `data directory ${dataDir} is open to group or others (mode ${(mode & 0o777).toString(8)}); run: chmod 700 ${dataDir}`,
    );
  }
  const db = openDatabase(join(dataDir, DATABASE_FILE));
  const blobs = BlobStore.open(dataDir);
  const messages = new MessageStore(db, blobs);
  return {
    db,
    accounts: new AccountStore(db),
    dkim: new DkimKeyStore(db),
    blobs,
    messages,
    close: async () => {
      await messages.idle();
      db.close();
    },
  };
}
